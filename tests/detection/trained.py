"""One short detector training shared by the tests that need a trained checkpoint.

``effnet train --config configs/d0_shapes.py`` with a small shapes set (320 training, 64
validation and 16 test images, written to a temporary folder) and three epochs: 60 steps of 16
images at 64 px, otherwise the config's recipe. Run once per test run, whichever test asks
first.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import torch

from effnet.cli import main
from effnet.fileio import locked

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "d0_shapes.py")
OVERRIDES = (
    "data.shapes.train=320",
    "data.shapes.val=64",
    "data.shapes.test=16",
    "schedule.epochs=3",
    "runtime.log_every=5",
)


@functools.cache
def trained_run() -> Path:
    """The run's folder: ``run/`` (model.safetensors, last.pt, log.jsonl, curves.png) and
    ``shapes/`` (train/, val/, test/ COCO folders).

    Under pytest the folder is the test run's own (``EFFNET_TEST_RUN_DIR``, tests/conftest.py),
    shared by every worker: the first to ask trains while holding a lock, the others wait for it
    and reuse the result, so the run is trained once however the modules are spread.
    """
    shared = os.environ.get("EFFNET_TEST_RUN_DIR")
    if not shared:
        root = Path(tempfile.mkdtemp(prefix="effnet_det_"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        return _train(root)
    root = Path(shared) / "trained_detector"
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".lock"):
        if not (root / "done").is_file():
            shutil.rmtree(root / "run", ignore_errors=True)  # a worker killed mid-training
            shutil.rmtree(root / "shapes", ignore_errors=True)
            _train(root)
            (root / "done").write_text("trained\n")
    return root


def _train(root: Path) -> Path:
    """Train on one thread: the thread count changes the order of float sums, and 60 steps of a
    detector from scratch amplify that (measured: val mAP@.5 4.9% on one thread, 1.5% on two),
    so one thread makes the run the same wherever the test trains it."""
    args = ["train", "--config", CONFIG, "--override", *OVERRIDES,
            f"data.dir={root / 'shapes'}", f"runtime.output_dir={root / 'run'}"]  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    return root
