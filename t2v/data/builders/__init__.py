"""Real-data builders: turn folders of videos / images and their captions into built datasets.

- `video_captions`: videos + captions (CSV/JSONL), a Kinetics-style class tree, or MSR-VTT JSON -> kind "video"
- `image_captions`: images + captions (CSV/JSONL), COCO captions JSON, or one text file per image -> kind "image"
- `image_folders`: CycleGAN-style trainA/trainB/testA/testB -> "unpaired"; class folders -> "labeled"
Each module has `main(argv) -> summary` (the CLI in datasets/<name>.py) and a `build_*` function.
Bad inputs are skipped, counted by reason and listed in report.json; the build goes on with the rest.
"""
