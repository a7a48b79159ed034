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

from effnet.cli import main
from effnet.fileio import locked

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
    args = ["train", "--config", CONFIG, "--override", *OVERRIDES,
            f"data_dir={root / 'shapes'}", f"output_dir={root / 'run'}"]  # fmt: skip
    assert main(args) == 0
    return root
