"""effnet's self-describing safetensors checkpoint."""

import pytest
import torch

import effnet
from effnet.data import Preprocess
from effnet.weights import CheckpointMismatchError, load_model, save_model
from effnet.weights.checkpoint import load_state_dict_checked


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
