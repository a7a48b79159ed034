"""The config's sections: one table places every field of every task; shipped configs keep
their values; dotted overrides work, bare names warn naming their key, unknown keys name the
closest ones."""

import json
import re
import warnings
from pathlib import Path

import pytest

from effnet.cli import main
from effnet.detection.config import DetectionConfig
from effnet.train import TrainConfig
from effnet.train.config import apply_overrides, field_names, load_config_module
from effnet.train.sections import FIELD_OF, KEY_OF, SECTIONS, FlatKeyWarning

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.py"))
#: Every shipped config's values as the flat config read them, recorded before configs were
#: written in sections (``TrainConfig.to_dict()`` at the commit that introduced sections).
RECORDED = json.loads((Path(__file__).with_name("config_values.json")).read_text())


def test_every_field_of_every_task_has_one_key_and_every_key_a_field():
    fields = set(field_names(TrainConfig)) | set(field_names(DetectionConfig))
    assert set(KEY_OF) == fields
    assert len(FIELD_OF) == len(KEY_OF)  # no field under two keys
    assert list(SECTIONS) == ["data", "model", "optim", "schedule", "regularization", "runtime"]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_shipped_config_keeps_its_values_and_round_trips_through_its_sections(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no config of ours uses a deprecated name
        cfg = load_config_module(path).settings
    recorded = RECORDED[path.stem]
    assert type(cfg).__name__ == recorded["type"]
    assert json.loads(json.dumps(cfg.to_dict(), default=str)) == recorded["values"]
    assert type(cfg).from_sections(**cfg.to_sections()) == cfg


def test_dotted_keys_reach_their_fields_for_both_tasks():
    cfg = apply_overrides(TrainConfig(), ["optim.lr=0.01", "schedule.epochs=3", "data.dir=/d"])
    assert (cfg.lr, cfg.epochs, cfg.data_dir) == (0.01, 3, "/d")
    det = apply_overrides(DetectionConfig(), ["data.shapes.train=32", "model.anchor_scale=2"])
    assert (det.shapes_train, det.anchor_scale) == (32, 2.0)
    assert det.to_sections()["data"]["shapes"]["train"] == 32


def test_a_bare_field_name_still_works_and_warns_naming_its_key():
    with pytest.warns(FlatKeyWarning, match="config key 'lr' is 'optim.lr' now"):
        cfg = apply_overrides(TrainConfig(), ["lr=0.01"])
    assert cfg.lr == 0.01
    with pytest.raises(ValueError, match="given twice"):
        apply_overrides(TrainConfig(), ["optim.lr=0.01", "lr=0.02"])


@pytest.mark.parametrize(
    ("key", "close"),
    [
        ("optim.lrr", "'optim.lr'"),
        ("epoch", "'schedule.epochs'"),
        ("optim.epochs", "'schedule.epochs'"),  # the right name in the wrong section
        ("regularization.anchor_scale", None),  # a detector's setting, not a classifier's
    ],
)
def test_an_unknown_key_fails_naming_the_closest(key, close):
    with pytest.raises(ValueError, match=re.escape(f"unknown config key '{key}'")) as caught:
        apply_overrides(TrainConfig(), [f"{key}=1"])
    if close is not None:
        assert f"Did you mean {close}" in str(caught.value)
    else:
        assert "model.anchor_scale" not in str(caught.value)
    with pytest.raises(ValueError, match=r"Did you mean 'model\.anchor_scale'"):
        apply_overrides(DetectionConfig(), ["regularization.anchor_scale=1"])


def test_sections_written_in_a_file_are_checked_by_name():
    with pytest.raises(ValueError, match=r"section 'optimizer'\. Did you mean 'optim'"):
        TrainConfig.from_sections(optimizer={"lr": 0.1})
    with pytest.raises(ValueError, match=r"unknown config key 'optim\.learning_rate'"):
        TrainConfig.from_sections(optim={"learning_rate": 0.1})
    cfg = TrainConfig.from_sections(optim={"name": "sgd"}, data={"dataset": "digits"})
    assert (cfg.optimizer, cfg.dataset, cfg.epochs) == ("sgd", "digits", TrainConfig().epochs)


def test_the_cli_says_a_bare_override_in_one_line(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("effnet.train.train", lambda cfg, **_: calls.append(cfg))
    args = ["train", "--config", "b0_digits", "--override", "epochs=2", "optim.lr_per_256=0.5"]
    assert main(args) == 0
    assert (calls[0].epochs, calls[0].lr_per_256) == (2, 0.5)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "effnet train: warning: config key 'epochs' is 'schedule.epochs' now; the bare name "
        "still works, for now"
    ]
