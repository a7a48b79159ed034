"""Configs as code: the recipe's values, the variants' differences, overrides and their errors."""

from pathlib import Path

import pytest

from effnet.cli import build_parser
from effnet.train import TrainConfig, load_config
from effnet.train.config import apply_overrides

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# PAPER.md section 1: resolution and dropout per variant.
PAPER_VARIANTS = {
    1: (240, 0.2),
    2: (260, 0.3),
    3: (300, 0.3),
    4: (380, 0.4),
    5: (456, 0.4),
    6: (528, 0.5),
    7: (600, 0.5),
}


def test_b0_imagenet_is_the_papers_recipe():
    cfg = load_config(CONFIGS / "b0_imagenet.py")
    # PAPER.md section 7, value by value.
    assert cfg.optimizer == "rmsprop_tf"
    assert (cfg.rmsprop_decay, cfg.momentum, cfg.rmsprop_eps) == (0.9, 0.9, 1e-3)
    assert cfg.lr_per_256 * 4096 / 256 == pytest.approx(0.256)
    assert (cfg.warmup_epochs, cfg.lr_decay_rate, cfg.lr_decay_epochs) == (5, 0.97, 2.4)
    assert cfg.weight_decay == 1e-5
    assert cfg.label_smoothing == 0.1
    assert cfg.autoaugment == "imagenet"
    assert cfg.drop_path_rate == 0.2
    assert cfg.dropout == 0.2
    assert cfg.ema_decay == 0.9999
    assert cfg.epochs == 350
    assert cfg.minival_size == 25_000
    assert (cfg.eval_crop_pct, cfg.interpolation) == (0.875, "bicubic")
    assert cfg.bn_momentum is None  # the spec's 0.99 (TF terms)
    assert cfg.model == "efficientnet_b0" and cfg.image_size is None  # B0's own 224


@pytest.mark.parametrize("variant", sorted(PAPER_VARIANTS))
def test_variant_configs_change_only_model_resolution_dropout_and_output(variant):
    base = load_config(CONFIGS / "b0_imagenet.py")
    cfg = load_config(CONFIGS / f"b{variant}_imagenet.py")
    assert (cfg.image_size, cfg.dropout) == PAPER_VARIANTS[variant]
    assert cfg.model == f"efficientnet_b{variant}"
    changed = {k for k, v in cfg.to_dict().items() if base.to_dict()[k] != v}
    assert changed == {"model", "image_size", "dropout", "output_dir"} - (
        {"dropout"} if PAPER_VARIANTS[variant][1] == base.dropout else set()
    )


def test_every_config_file_starts_with_what_it_reproduces_and_costs():
    for path in sorted(CONFIGS.glob("b*_*.py")):
        head = path.read_text().split('"""')[1]
        assert "Reproduces" in head and "Cost" in head, path.name


def test_config_by_name_and_overrides_parse_to_field_types():
    cfg = load_config(
        "b0_digits",
        ["epochs=3", "image_size=48", "lr_per_256=0.05", "hflip=true", "dropout=none",
         "autoaugment=svhn", "max_steps=7"],
    )  # fmt: skip
    assert cfg.dataset == "digits"
    assert (cfg.epochs, cfg.image_size, cfg.max_steps) == (3, 48, 7)
    assert cfg.lr_per_256 == 0.05 and cfg.hflip is True
    assert cfg.dropout is None and cfg.autoaugment == "svhn"


def test_unknown_override_key_names_the_closest_field():
    with pytest.raises(ValueError, match=r"unknown config key .epoch.\. Did you mean .epochs."):
        apply_overrides(TrainConfig(), ["epoch=3"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=three", "expected int"),
        ("hflip=maybe", "expected bool"),
        ("epochs", "key=value"),
        ("optimizer=adam", "optimizer must be one of"),
        ("epochs=0", "epochs must be >= 1"),
        ("ema_decay=1.0", "ema_decay"),
    ],
)
def test_bad_override_values_are_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(TrainConfig(), [override])


def test_missing_config_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="b0_digits"):
        load_config("no_such_config")


def test_config_without_get_config_is_rejected(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    with pytest.raises(ValueError, match="get_config"):
        load_config(bad)


def test_train_help_shows_a_pasteable_example():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["train"].format_help()
    assert "effnet train --config configs/b0_digits.py" in text
    assert "--override" in text and "--resume" in text
