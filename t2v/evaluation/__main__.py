"""`python -m t2v.evaluation train-classifier|evaluate|confusion ...` (see the subcommands' --help)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import T2VError, run_cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m t2v.evaluation", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train-classifier", help="train the attribute classifier (judge) on a dataset's real clips")
    t.add_argument("--dataset", required=True, help="built dataset directory (with labels)")
    t.add_argument("--out", required=True, help="directory for config.json, model.safetensors, metrics.json")
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--width", type=int, default=16, help="channels of the first conv stage")
    t.add_argument("--holdback", type=float, default=0.2,
                   help="fraction of every split kept out of training; accuracies are measured on it")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int, default=2, help="torch CPU threads")

    e = sub.add_parser("evaluate", help="generate clips for a split's captions and judge them")
    e.add_argument("--model", required=True, help="exported t2v model directory (or a bundled model's name)")
    e.add_argument("--classifier", required=True, help="directory written by train-classifier")
    e.add_argument("--dataset", required=True, help="built dataset whose split supplies captions and real clips")
    e.add_argument("--split", default="heldout")
    e.add_argument("--samples-per-caption", type=int, default=4)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--truncation", type=float, default=1.0,
                   help="scale of the generator's N(0, I) latents (1 = as trained, 0 = their mean)")
    e.add_argument("--rerank", type=int, default=1, metavar="R",
                   help="text-to-image models: each sample is the best of R by the model's discriminator (1 = off)")
    e.add_argument("--rerank-by", choices=["text", "logit"], default="text",
                   help="what --rerank scores: the caption's term of the discriminator (default) or its whole logit")
    e.add_argument("--batch-size", type=int, default=16, help="generation batch size")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    e.add_argument("--out", help="also write the JSON result to this file")

    c = sub.add_parser("confusion", help="how the judge read one label of an evaluate result, per captioned class")
    c.add_argument("result", help="JSON written by evaluate --out")
    c.add_argument("--label", required=True, help="the captioned label to tabulate, e.g. shape")
    c.add_argument("--by", help="one table per class of this other label, e.g. size")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "confusion":
        from .confusion import confusion, format_confusion

        try:
            result = json.loads(Path(args.result).read_text())
        except (OSError, ValueError) as e:
            raise T2VError(f"cannot read {args.result}: {e}") from None
        print(format_confusion(confusion(result, args.label, args.by), args.label, args.by), end="")
        return 0
    from .output import check_output_file, emit_json

    if args.command == "evaluate":
        check_output_file(args.out, "--out")  # an unwritable path fails now, not after every sample is judged
    import torch

    torch.set_num_threads(args.threads)
    from .metrics import open_dataset

    ds = open_dataset(args.dataset)
    if args.command == "train-classifier":
        from .train import train_classifier

        if args.steps < 1 or args.batch_size < 1 or not 0 <= args.holdback < 1:
            raise T2VError("--steps and --batch-size must be positive and --holdback in [0, 1)")
        result = train_classifier(
            ds, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            device=args.device, holdback=args.holdback, width=args.width,
        )
    else:
        from .classifier import load_classifier
        from .metrics import candidate_labels, check_labels, evaluate_pipeline, require_split

        require_split(ds, args.split)
        classifier = load_classifier(args.classifier, device=args.device)
        check_labels(classifier, ds, candidate_labels(ds.meta, ds.label_names))
        from ..pipelines import load_pipeline

        pipe = load_pipeline(args.model, device=args.device)
        result = evaluate_pipeline(
            pipe, classifier, ds, split=args.split, samples_per_caption=args.samples_per_caption, seed=args.seed,
            batch_size=args.batch_size, truncation=args.truncation, rerank=args.rerank,
            rerank_by=args.rerank_by,
        )
        result = {"model": args.model, "classifier": args.classifier, "dataset": args.dataset, **result}
    emit_json(result, args.out if args.command == "evaluate" else None)  # train-classifier's --out is its directory
    return 0


if __name__ == "__main__":
    run_cli(main)
