#!/bin/bash
# Side-by-side DCGAN-scenes variants on one GPU under a wall-clock deadline (how benchmarks/results/
# dcgan_scenes_gpu_sweep.json was made, on an H200 lent for 15 minutes): build the stills if data/scenes_frames is
# missing, train every variant of configs/dcgan_scenes.yaml at once until TRAIN_S seconds after the start, export each
# from its last whole checkpoint (train.py --resume ... train.max_steps=N), judge held-out and val captions with
# the stills judge (data/classifiers/scenes_frames, `python -m t2v.evaluation train-classifier`), print a table and
# write sample strips. Variants finish at different steps: compare them at the step the table prints.
#   TRAIN_S=400 SPC=128 bash benchmarks/dcgan_scenes_sweep.sh A_base: B_aux3:model.aux_weight=3 \
#       C_cbn:model.g_cond_norm=true E_ngf128:model.ngf=128
# Env: R (work dir, default /tmp/sweep), TRAIN_S, SPC (stills per caption), CKPT (checkpoint every), DEV (cuda|cpu),
# OUT (also pack results, strips and G-only exports there).
T0=$(date +%s); ROOT=$PWD; TRAIN_END=$((T0 + ${TRAIN_S:-400}))
export PYTHONPATH=$PWD OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
R=${R:-/tmp/sweep}; mkdir -p $R
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
declare -A V=()
for arg in "$@"; do V[${arg%%:*}]="${arg#*:}"; done  # NAME:override override ...
[ ${#V[@]} -gt 0 ] || { echo "usage: bash benchmarks/dcgan_scenes_sweep.sh NAME:'key=value ...' ..."; exit 2; }
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
if [ ! -d data/scenes_frames ]; then
python3 datasets/scenes.py --out $R/scenes --previews 0 > $R/build.log 2>&1 || { tail $R/build.log; exit 1; }
log scenes built
python3 datasets/frames.py --from $R/scenes --out data/scenes_frames --frame random --per-clip 4 --previews 0 >> $R/build.log 2>&1 || { tail $R/build.log; exit 1; }
log stills built; rm -rf $R/scenes
fi
for v in "${!V[@]}"; do
  timeout $((TRAIN_END - $(date +%s))) python3 train.py --config configs/dcgan_scenes.yaml ${V[$v]} \
    train.output_dir=$R/$v train.checkpoint_every=${CKPT:-250} train.keep_last=2 train.log_every=100 train.sample_every=0 \
    data.num_workers=2 > $R/$v.log 2>&1 &
done
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null; for v in "${!V[@]}"; do echo "$v: $(grep -o '[0-9]*/5000 \[[^]]*' $R/$v.log | tail -1)"; done
while [ $(date +%s) -lt $TRAIN_END ] && [ -n "$(jobs -r)" ]; do sleep 10; done
log training stopped; for v in "${!V[@]}"; do echo "$v: $(grep -o '[0-9]*/5000' $R/$v.log | tail -1)"; done
kill $(jobs -p) 2>/dev/null; wait
for v in "${!V[@]}"; do
  if [ ! -d $R/$v/final ]; then
    for ck in $(ls -d $R/$v/checkpoints/step_* 2>/dev/null | sort -r); do
      n=$((10#${ck##*step_}))
      python3 train.py --config $R/$v/config.json --resume $ck train.max_steps=$n train.output_dir=$R/$v/x data.num_workers=0 >> $R/$v.export.log 2>&1 \
        && mv $R/$v/x/final $R/$v/final && echo $n > $R/$v/final/STEP && break
    done
  else echo 5000 > $R/$v/final/STEP; fi
done &
wait; log exported
for v in "${!V[@]}"; do for s in heldout val; do
  [ -d $R/$v/final ] && python3 -m t2v.evaluation evaluate --model $R/$v/final --classifier data/classifiers/scenes_frames \
    --dataset data/scenes_frames --split $s --samples-per-caption ${SPC:-32} --device ${DEV:-cuda} --out $R/${v}_$s.json > $R/${v}_$s.eval.log 2>&1 &
done; done; wait; log judged
R=$R python3 - <<'PY'
import json, glob, os; R = os.environ['R']
for f in sorted(glob.glob(f'{R}/*_heldout.json')):
    v = os.path.basename(f)[:-13]; val = f'{R}/{v}_val.json'
    step = open(f'{R}/{v}/final/STEP').read().strip()
    print(v, step, 'heldout', json.load(open(f))['accuracy'], 'val', json.load(open(val))['accuracy'] if os.path.exists(val) else 'failed')
PY
cd $R; [ -n "$OUT" ] && tar czf $OUT/results.tgz *.json *.log */metrics.jsonl */config.json 2>/dev/null
for v in "${!V[@]}"; do [ -d $v/final ] || continue
  (cd $ROOT && python3 sample.py --checkpoint $R/$v/final --text "play golf on snow" --text "bike on sand" --text "sail on grass" \
    --text "jog on sea" --text "kitesurf on snow" --text "play golf in the swimming pool" --num-samples 8 --format png --out $R/png_$v --device ${DEV:-cuda} > $R/$v.sample.log 2>&1) &
  [ -n "$OUT" ] && tar cf $OUT/$v.tar --exclude=discriminator.safetensors $v/final
done; wait
[ -n "$OUT" ] && tar czf $OUT/pngs.tgz png_* 2>/dev/null; log done
