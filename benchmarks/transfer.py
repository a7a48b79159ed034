"""Transfer learning measured (the paper's Table 5 claim, in miniature): the real ImageNet
EfficientNet-Lite0 fine-tuned vs the same network and schedule from scratch.

Two labelled sets that packages ship, no download:

- scikit-learn's digits (1,257 train / 180 minival / 360 test, 8x8 upsampled to 64x64);
- scikit-image's ``lfw_subset``: 100 face and 100 non-face 25x25 crops, a seeded 140/60 split
  written as an image folder (faces vs not), upsampled to 64x64.

Every run uses configs/lite0_digits_transfer.py's recipe (SGD + Nesterov, warm-up then x0.5 per
epoch, label smoothing 0.1) at a few short budgets; "scratch" only drops the starting weights.
Reported: test top-1 of the final weights and the run's wall time, side by side, with the CPU.

    python benchmarks/transfer.py                         # both data sets, all budgets
    python benchmarks/transfer.py --datasets digits --budgets 2 8 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from effnet.deploy.cpu import cpu_info
from effnet.train import train

ROOT = Path(__file__).resolve().parents[1]


def transfer_config():
    spec = importlib.util.spec_from_file_location("cfg", ROOT / "configs/lite0_digits_transfer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def lfw_folder(root: Path, seed: int = 0) -> Path:
    """lfw_subset as DATA/{train,test}/{face,not_face}/*.png: 70 + 30 of each class."""
    from skimage import data

    images = data.lfw_subset()  # (200, 25, 25) floats in [0, 1]: 100 faces, then 100 non-faces
    order = np.random.default_rng(seed).permutation(100)
    for label, offset in (("face", 0), ("not_face", 100)):
        for rank, index in enumerate(order):
            split = "train" if rank < 70 else "test"
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (images[offset + index] * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{offset + index:03d}.png")
    return root


def run(dataset: str, budget: int, pretrained: bool, work: Path, lfw: Path) -> dict:
    cfg = transfer_config().replace(
        epochs=budget,
        output_dir=str(work / f"{dataset}_{budget}_{'pre' if pretrained else 'scratch'}"),
        init_checkpoint=None if not pretrained else transfer_config().init_checkpoint,
    )
    if dataset == "lfw":
        # 140 training images: batch 16 keeps several updates per epoch; no minival to spare.
        cfg = cfg.replace(
            dataset="imagefolder",
            data_dir=str(lfw),
            batch_size=16,
            lr_per_256=0.16,
            minival_size=0,
            hflip=True,
        )
    started = time.perf_counter()
    result = train(cfg)
    return {
        "dataset": dataset,
        "epochs": budget,
        "start": "ImageNet Lite0" if pretrained else "scratch",
        "test_top1": result.test_acc,
        "wall_s": round(time.perf_counter() - started, 1),
        "train_s": round(result.wall_time_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "lfw"])
    parser.add_argument("--budgets", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/transfer.json")
    args = parser.parse_args()
    print(cpu_info().header())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lfw = lfw_folder(work / "lfw_data")
        for dataset in args.datasets:
            for budget in args.budgets:
                for pretrained in (True, False):
                    rows.append(run(dataset, budget, pretrained, work, lfw))
                    print(json.dumps(rows[-1]), flush=True)
    print("\n| data | epochs | start | test top-1 | wall time |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['epochs']} | {r['start']} | {r['test_top1']:.2%} | "
            f"{r['wall_s']:.0f} s |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cpu": cpu_info().header(), "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
