"""The one loader: effnet.load and create_model(pretrained=...) for files, state dicts and names."""

import pytest
import torch
from safetensors.torch import save_file

import effnet
from effnet.data import Preprocess
from effnet.registry import get_spec
from effnet.weights import save_model
from effnet.weights.factory import same_architecture


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 3-class B0 checkpoint that says what it is: classes and a 64px preprocessing."""
    torch.manual_seed(0)
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    path = tmp_path_factory.mktemp("ckpt") / "pets.safetensors"
    save_model(path, model, ["cat", "dog", "fox"], Preprocess(64, crop_pct=1.0))
    return path, model.eval()


def test_load_returns_the_model_with_its_metadata(checkpoint):
    path, original = checkpoint
    model = effnet.load(path)
    assert not model.training and model.spec.name == "efficientnet_b0"
    assert model.class_names == ["cat", "dog", "fox"]
    assert model.preprocess == Preprocess(64, crop_pct=1.0)
    assert model.weights_source == str(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
    assert effnet.transforms_for(model).transforms[-3].size == (64, 64)  # the stored crop


def test_create_model_with_a_file_gives_a_new_head_for_other_classes(checkpoint):
    path, original = checkpoint
    tuned = effnet.create_model("efficientnet_b0", pretrained=path, num_classes=5, dropout=0.0)
    assert tuned.num_classes == 5 and tuned.class_names is None  # old names, old classes
    assert tuned.dropout.p == 0.0 and tuned.preprocess == Preprocess(64, crop_pct=1.0)
    torch.testing.assert_close(tuned.stem.conv.weight, original.stem.conv.weight)
    same = effnet.create_model("efficientnet_b0", pretrained=str(path), num_classes=3)
    assert same.class_names == ["cat", "dog", "fox"]


def test_a_whole_network_file_loads_as_a_features_only_backbone(checkpoint, tmp_path):
    path, original = checkpoint
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(plain))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = original.blocks(original.stem(x))
        for source in (path, plain):  # an effnet checkpoint and a plain state dict
            backbone = effnet.create_model(
                "efficientnet_b0", pretrained=source, features_only=True, out_indices=(2, 3, 4)
            ).eval()
            assert backbone.feature_info.reduction() == [8, 16, 32]
            assert torch.equal(backbone(x)[-1], expected)
    assert backbone.head is None and backbone.classifier is None


def test_a_file_for_another_architecture_is_refused(checkpoint):
    path, _ = checkpoint
    with pytest.raises(ValueError, match="checkpoint for efficientnet_b0, not efficientnet_b1"):
        effnet.load(path, model="efficientnet_b1")
    with pytest.raises(ValueError, match="checkpoint for efficientnet_b0, not efficientnet_b1"):
        effnet.create_model("efficientnet_b1", pretrained=path)


def test_a_plain_state_dict_needs_the_model_name(checkpoint, tmp_path):
    _, original = checkpoint
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(plain))
    with pytest.raises(ValueError, match="pass --model NAME"):
        effnet.load(plain)
    model = effnet.load(plain, model="efficientnet_b0")
    assert model.num_classes == 3 and model.class_names == ["0", "1", "2"]
    assert model.preprocess.resolution == 224  # nothing stored: the paper's default


def test_missing_files_and_bare_tags_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        effnet.load(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="not an existing file"):
        effnet.load("tv_in1k")
    with pytest.raises(ValueError, match="no weights given"):
        effnet.load("")


def test_same_architecture_ignores_training_choices_only():
    b0 = get_spec("efficientnet_b0")
    assert same_architecture(b0, b0.replace(name="mine", dropout=0.5, bn_momentum=0.1))
    assert not same_architecture(b0, get_spec("efficientnet_b1"))
