"""The digits demo's engine on a shortened schedule: it learns; its checkpoint predicts alone."""

import re
from pathlib import Path

import torch
from PIL import Image

from effnet.data.digits import DigitsImages
from effnet.data.preprocess import eval_transform
from effnet.train import load_config, train
from effnet.weights.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[2]
SHORT_EPOCHS = 4  # of the demo's full schedule (configs/b0_digits.py); chance is 10%


def test_make_demo_runs_exactly_the_digits_config():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    # --overwrite: a demo reruns from scratch, over its previous run folder
    assert recipe.strip() == "$(BIN)/effnet train --config configs/b0_digits.py --overwrite"


def test_short_demo_clearly_beats_chance_and_its_checkpoint_stands_alone(tmp_path):
    cfg = load_config(
        ROOT / "configs/b0_digits.py", [f"epochs={SHORT_EPOCHS}", f"output_dir={tmp_path}"]
    )
    full = load_config(ROOT / "configs/b0_digits.py")
    assert cfg.replace(epochs=full.epochs, output_dir=full.output_dir) == full  # same recipe
    result = train(cfg)

    assert result.test_acc is not None and result.test_acc >= 0.6, result.history
    assert result.test_acc == result.final_test_acc  # the demo reports its final weights
    assert len(result.history) == SHORT_EPOCHS
    assert result.best_val_acc == max(h["val_acc"] for h in result.history)
    png = tmp_path / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "log.jsonl").is_file() and any((tmp_path / "tensorboard").iterdir())

    # The final checkpoint alone (spec, classes, preprocessing) reproduces the test accuracy
    # from PIL images, the way `effnet predict` would see them.
    model, meta = load_model(result.checkpoint)
    assert meta["class_names"] == [str(d) for d in range(10)]
    assert meta["preprocess"].resolution == cfg.image_size
    transform = eval_transform(meta["preprocess"])
    test = DigitsImages("test")
    images = torch.stack([transform(test[i][0]) for i in range(len(test))])
    assert isinstance(test[0][0], Image.Image)
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(1)
    accuracy = (predicted == torch.tensor(test.targets)).float().mean().item()
    assert abs(accuracy - result.test_acc) <= 1 / len(test)  # NHWC vs NCHW rounding: <= 1 image
