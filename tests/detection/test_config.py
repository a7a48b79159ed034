"""Detection configs: read from files like classification's, overrides typed, bad values named."""

from pathlib import Path

import pytest

from effnet.detection.config import DetectionConfig
from effnet.train.config import apply_overrides, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_shapes_config_and_overrides():
    cfg = load_config(CONFIGS / "d0_shapes.py", ["epochs=3", "image_size=none"])
    assert isinstance(cfg, DetectionConfig)
    assert (cfg.model, cfg.epochs, cfg.image_size, cfg.dataset) == (
        "efficientdet_d0",
        3,
        None,
        "shapes",
    )
    assert load_config("d0_shapes").image_size == 64  # by name, as `effnet train` does


def test_classification_configs_are_not_detection_configs():
    assert not isinstance(load_config(CONFIGS / "b0_digits.py"), DetectionConfig)


def test_a_classifiers_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="label_smoothing, autoaugment: a classifier's setting"):
        DetectionConfig(autoaugment="imagenet", label_smoothing=0.1)


@pytest.mark.parametrize(
    "override, message",
    [
        ("epoch=3", "Did you mean 'schedule.epochs'"),
        ("lr=fast", "lr='fast': expected a finite float"),
        ("optimizer=lamb", "optimizer must be one of"),
        ("ema_decay=1", "ema_decay must be in"),
    ],
)
def test_bad_overrides_name_the_field(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(DetectionConfig(), [override])


def test_coco_needs_a_folder():
    with pytest.raises(ValueError, match="coco needs a data_dir"):
        DetectionConfig(dataset="coco")
