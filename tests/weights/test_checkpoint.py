"""effnet's self-describing safetensors checkpoint."""

import json
import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import effnet
from effnet.data import Preprocess
from effnet.weights import CheckpointMismatchError, load_model, save_model
from effnet.weights.checkpoint import UnreadableCheckpointError, load_state_dict_checked


def test_round_trip_restores_model_classes_and_preprocessing(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=3, padding="same").eval()
    pre = Preprocess(resolution=64, crop_pct=1.0, interpolation="bilinear")
    path = save_model(tmp_path / "m.safetensors", model, ["zero", "one", "two"], pre)
    loaded, meta = load_model(path)
    loaded.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["class_names"] == ["zero", "one", "two"]
    assert meta["preprocess"] == pre and loaded.padding == "same"
    assert not list(tmp_path.glob("*.tmp"))


def test_class_name_count_must_match_the_head(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    with pytest.raises(ValueError, match="2 class names for a 3-class model"):
        save_model(tmp_path / "m.safetensors", model, ["a", "b"])


def test_mismatched_checkpoint_names_the_first_tensor_and_both_shapes():
    b0 = effnet.create_model("efficientnet_b0", num_classes=10)
    b1 = effnet.create_model("efficientnet_b4")
    expected = (
        r"'stem\.conv\.weight' has shape \(48, 3, 3, 3\) but the model expects \(32, 3, 3, 3\)"
    )
    with pytest.raises(CheckpointMismatchError, match=expected):
        load_state_dict_checked(b0, b1.state_dict())
    state = b0.state_dict()
    state.pop("classifier.bias")
    with pytest.raises(CheckpointMismatchError, match=r"missing 'classifier\.bias'"):
        load_state_dict_checked(b0, state)


def test_missing_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(junk)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 3-class B0 checkpoint: its path, tensors and header, to tamper with."""
    path = tmp_path_factory.mktemp("ckpt") / "b0.safetensors"
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    save_model(path, model, ["a", "b", "c"], Preprocess(32))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    return path, load_file(str(path)), meta


def tampered(saved, folder, tensors=None, **fields):
    """A copy of the saved checkpoint with header fields replaced (None: removed)."""
    _, state, meta = saved
    meta = {k: v for k, v in {**meta, **fields}.items() if v is not None}
    out = folder / "tampered.safetensors"
    save_file(tensors if tensors is not None else state, str(out), metadata=meta)
    return out


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"spec": None}, "the effnet header has no 'spec' field"),
        ({"num_classes": None}, "the effnet header has no 'num_classes' field"),
        ({"spec": "{"}, "header field 'spec' is invalid"),
        ({"spec": "[" * 100_000 + "]" * 100_000}, "header field 'spec' is invalid (JSON nested"),
        ({"spec": '{"name": "x"}'}, "header field 'spec' is invalid (missing key 'stem')"),
        ({"num_classes": "-3"}, "header field 'num_classes' is invalid (expected a positive"),
        ({"class_names": '["a"]'}, "header field 'class_names' is invalid (1 names for a 3-class"),
        ({"class_names": "[1, 2, 3]"}, "'class_names' is invalid (expected a JSON list of strings"),
        ({"preprocess": "null"}, "header field 'preprocess' is invalid"),
        ({"extra": "[]"}, "header field 'extra' is invalid (expected a JSON object"),
    ],
)
def test_a_bad_header_names_the_file_and_the_field(saved, tmp_path, fields, message):
    path = tampered(saved, tmp_path, **fields)
    with pytest.raises(ValueError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_model(path)


def test_a_spec_with_a_bad_stride_in_the_header_is_refused(saved, tmp_path):
    spec = json.loads(saved[2]["spec"])
    spec["stages"][1]["stride"] = 0
    with pytest.raises(ValueError, match=r"'spec' is invalid \(StageSpec.stride must be in \[1, 8"):
        load_model(tampered(saved, tmp_path, spec=json.dumps(spec)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.to(torch.int8), "tensor 'stem.conv.weight' is int8, not a floating-point"),
        (
            lambda t: t.index_fill(0, torch.tensor([1]), float("nan")),
            "tensor 'stem.conv.weight' holds 27 NaN",
        ),
        (
            lambda t: t.index_fill(0, torch.tensor([0]), float("inf")),
            "tensor 'stem.conv.weight' holds 27 NaN or",
        ),
    ],
)
def test_weights_of_the_wrong_dtype_or_not_finite_are_refused(saved, tmp_path, change, message):
    state = dict(saved[1])
    state["stem.conv.weight"] = change(state["stem.conv.weight"]).contiguous()
    path = tampered(saved, tmp_path, tensors=state)
    with pytest.raises(CheckpointMismatchError, match=re.escape(f"{path}: {message}")):
        load_model(path)


@pytest.mark.parametrize("keep", [0, 7, 1000, -100])
def test_an_empty_or_truncated_file_is_called_that(saved, tmp_path, keep):
    """Not "not an effnet checkpoint ... pass --model": the file is damaged, whatever --model."""
    data = saved[0].read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep])
    what = "empty (0 bytes)" if keep == 0 else "truncated or damaged"
    with pytest.raises(UnreadableCheckpointError, match=re.escape(what)):
        load_model(path)
    for model in (None, "efficientnet_b0"):
        with pytest.raises(UnreadableCheckpointError, match="not a readable safetensors file"):
            effnet.load(path, model)
