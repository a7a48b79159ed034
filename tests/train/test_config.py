"""Configs as code: the recipe's values, the variants' differences, overrides and their errors."""

from pathlib import Path

import pytest

from effnet.cli import build_parser
from effnet.train import TrainConfig, load_config
from effnet.train.config import (
    apply_overrides,
    load_config_module,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# docs/paper.md section 1: resolution and dropout per variant.
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
    # docs/paper.md section 7, value by value.
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
    with pytest.raises(
        ValueError, match=r"unknown config key .epoch.\. Did you mean .schedule\.epochs."
    ):
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


# ------------------------------------------------------------------------------------------------
# A config file executed once, with an optional experiment getter beside get_config()
# ------------------------------------------------------------------------------------------------
COUNTING_CONFIG = """
from pathlib import Path

from effnet.train import TrainConfig

with open(Path(__file__).with_suffix(".runs"), "a") as runs:  # one line per execution
    runs.write("ran\\n")


def get_config():
    return TrainConfig(epochs=7)


def get_extra():
    return {"budgets": (1.0, 2.0)}


not_a_getter = 3
"""


def runs_of(config: Path) -> int:
    return len(config.with_suffix(".runs").read_text().splitlines())


def test_config_module_executes_the_file_once_for_config_and_getter(tmp_path):
    config = tmp_path / "exp.py"
    config.write_text(COUNTING_CONFIG)
    module = load_config_module(config)
    assert module.train_config(["epochs=3"]).epochs == 3
    assert module.train_config().epochs == 7
    assert module.optional("get_extra", dict) == {"budgets": (1.0, 2.0)}
    assert module.optional("get_missing", dict) is None
    assert runs_of(config) == 1
    load_config(config)
    assert runs_of(config) == 2  # load_config is one execution too


def test_config_module_checks_what_the_getters_return(tmp_path):
    config = tmp_path / "exp.py"
    config.write_text(COUNTING_CONFIG)
    module = load_config_module(config)
    with pytest.raises(ValueError, match=r"get_extra\(\) returned dict, not TrainConfig"):
        module.optional("get_extra", TrainConfig)
    with pytest.raises(ValueError, match="not_a_getter is not a function"):
        module.optional("not_a_getter", int)
    bad = tmp_path / "bad.py"
    bad.write_text("def get_config():\n    return {'epochs': 3}\n")
    with pytest.raises(ValueError, match=r"get_config\(\) returned dict, not TrainConfig"):
        load_config(bad)


# ------------------------------------------------------------------------------------------------
# Fine-tuning configs (paper Table 5)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def get_config():\n    return {}['b']\n", r"mine.py, line 2: KeyError: 'b'$"),
        ("import no_such_module\n", r"mine.py, line 1: ModuleNotFoundError: No module named"),
        ("x = 1 / 0\n", r"mine.py, line 1: ZeroDivisionError: division by zero$"),
    ],
)
def test_an_error_in_a_config_files_code_names_the_file_and_line(tmp_path, body, message):
    config = tmp_path / "mine.py"
    config.write_text(body)
    with pytest.raises(ValueError, match=message):
        load_config(config)
