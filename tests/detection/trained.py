"""One short detector training shared by the tests that need a trained checkpoint.

``effnet train --config configs/d0_shapes.py`` with a small shapes set (320 training, 64
validation and 16 test images, written to a temporary folder) and three epochs: 60 steps of 16
images at 64 px, otherwise the config's recipe. Run once per test process, whichever test asks
first.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from effnet.cli import main

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "d0_shapes.py")
OVERRIDES = (
    "shapes_train=320",
    "shapes_val=64",
    "shapes_test=16",
    "epochs=3",
    "log_every=5",
)


@functools.cache
def trained_run() -> Path:
    """The run's folder: ``run/`` (model.safetensors, last.pt, log.jsonl, curves.png) and
    ``shapes/`` (train/, val/, test/ COCO folders)."""
    root = Path(tempfile.mkdtemp(prefix="effnet_det_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    args = ["train", "--config", CONFIG, "--override", *OVERRIDES,
            f"data_dir={root / 'shapes'}", f"output_dir={root / 'run'}"]  # fmt: skip
    assert main(args) == 0
    return root
