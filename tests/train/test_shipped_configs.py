"""Every shipped config trains: the one training loop sets its run up (data, model, optimizer,
schedule, EMA, the task's loss) and takes one optimizer step, on a small real data set.

Only the data and the sizes are changed, through the config's own sections: a folder of 8
crops of scikit-image's photos (the shapes set at 32 px for a detector), 32 px, batch 4, one
step, no loader processes. V2's progressive stages keep their number and their regularization
and train at 16-32 px. Everything else -- the model, the optimizer and its settings, the
schedule, EMA, label smoothing, the stages -- is the config's. The run stops before its
checkpoints (seconds of writing for the large models, which the loop's own tests cover).
"""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.detection.config import DetectionConfig
from effnet.train import distributed
from effnet.train.config import load_config_module
from effnet.train.loop import TrainingRun
from effnet.train.task import task_for

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.py"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """``train/{astronaut,coffee}``: 4 crops of each photo, 40 px."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, photo in (("astronaut", skdata.astronaut()), ("coffee", skdata.coffee())):
        (root / "train" / name).mkdir(parents=True)
        for i in range(4):
            y, x = rng.integers(0, 200, size=2)
            crop = Image.fromarray(photo[y : y + 200, x : x + 200]).resize((40, 40))
            crop.save(root / "train" / name / f"{i}.png")
    return root


def small(cfg, photos: Path, out: Path):
    """``cfg`` on small data at a small size, through its sections."""
    schedule = {"batch_size": 4, "max_steps": 1, "grad_accum_steps": 1, "fit_batch": False}
    runtime = {"num_workers": 0, "device": "cpu", "output_dir": str(out), "log_every": 1}
    if isinstance(cfg, DetectionConfig):
        shapes = {"image_size": 32, "train": 8, "val": 4, "test": 0, "min_size": 8, "max_size": 16}
        data = {"dir": str(out.parent / "shapes"), "image_size": 32, "shapes": shapes}
        return cfg.with_sections(data=data, schedule=schedule, runtime=runtime)
    if cfg.progressive is not None:
        schedule["progressive"] = cfg.progressive.replace(image_size=(16, 32))
    data = {"dataset": "imagefolder", "dir": str(photos), "image_size": 32, "minival_size": 0}
    return cfg.with_sections(data=data, schedule=schedule, runtime=runtime)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_shipped_config_trains_one_step(path, photos, tmp_path):
    shipped = load_config_module(path).settings
    cfg = small(shipped, photos, tmp_path / "run")
    assert (cfg.model, cfg.optimizer, cfg.ema_decay) == (
        shipped.model,
        shipped.optimizer,
        shipped.ema_decay,
    )
    d = distributed.setup("cpu")
    training = None
    try:
        training = TrainingRun(cfg, d, resume=False, started=time.time(), task=task_for(cfg))
        training.train_epoch()
        state = training.state
        assert state.progress.step == 1 and training.done
        trainable = [p for p in state.model.parameters() if p.requires_grad]
        stepped = [p for p in trainable if state.optimizer.state.get(p)]
        assert len(stepped) == len(trainable)  # one update reached every parameter
        progress = state.progress
        assert progress.epoch_loss_count == 4 and np.isfinite(progress.epoch_loss_sum)
        assert progress.epoch_loss_sum > 0
        assert state.ema is None or state.ema.num_updates == 1
        assert all(torch.isfinite(p).all() for p in trainable)
    finally:
        if training is not None:
            training.bar.close()
            training.logger.close()
        distributed.teardown(d)
