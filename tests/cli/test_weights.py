"""``--weights`` / ``--model`` / ``--device``, shared by the commands that run a model."""

import argparse
import shlex

import pytest
import torch
from torch import nn

import effnet
from effnet.cli import build_parser
from effnet.cli._weights import add_weights_args, describe, load_from_args
from effnet.data import Preprocess
from effnet.weights import save_model

USE_COMMANDS = ("eval", "predict", "cam", "export", "finetune")


def parse(*argv, required=True):
    parser = argparse.ArgumentParser()
    add_weights_args(parser, required=required)
    return parser.parse_args(list(argv))


def test_an_effnet_checkpoint_brings_its_classes_and_preprocessing(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=2)
    path = save_model(tmp_path / "m.safetensors", model, ["cat", "cup"], Preprocess(48))
    loaded = load_from_args(parse("--weights", str(path), "--device", "cpu"))
    assert loaded.class_names == ["cat", "cup"] and loaded.preprocess == Preprocess(48)
    assert not loaded.training and next(loaded.parameters()).device.type == "cpu"
    assert describe(loaded) == f"efficientnet_b0 from {path}"
    with pytest.raises(ValueError, match="not efficientnet_b2"):
        load_from_args(parse("--weights", str(path), "--model", "efficientnet_b2"))


def test_weights_that_are_a_plain_state_dict_need_and_use_model(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=7)
    path = tmp_path / "plain.pth"
    torch.save(model.state_dict(), path)
    loaded = effnet.load(path, model="efficientnet_b0")
    assert loaded.num_classes == 7 and loaded.class_names == [str(i) for i in range(7)]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert isinstance(loaded.classifier, nn.Linear)
    through_args = load_from_args(parse("--weights", str(path), "--model", "efficientnet_b0"))
    with torch.no_grad():
        assert torch.equal(through_args(x), loaded(x))


def test_random_weights_only_where_asked_for():
    with pytest.raises(ValueError, match="--weights is required"):
        load_from_args(parse("--model", "efficientnet_b0", required=False))
    with pytest.raises(ValueError, match="give --model"):
        load_from_args(parse(required=False), require_weights=False)
    fresh = load_from_args(parse("--model", "efficientnet_b0", required=False), False)
    assert fresh.weights_source is None and not fresh.training
    assert fresh.preprocess.resolution == 224 and len(fresh.class_names) == 1000
    assert describe(fresh) == "efficientnet_b0 from random init"


@pytest.mark.parametrize("name", USE_COMMANDS)
def test_every_use_command_help_has_a_pasteable_example(name):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    helptext = subparsers.choices[name].format_help()
    assert "example:" in helptext, name
    examples = [
        line.strip()
        for line in helptext.split("example:")[1].splitlines()
        if line.strip().startswith("effnet ")
    ]
    assert examples, name
    for line in examples:
        args = parser.parse_args(shlex.split(line, comments=True)[1:])  # SystemExit if it fails
        assert callable(args.func), line
