"""TorchScript files carry their metadata as an extra file and run back without effnet's model."""

import dataclasses

import pytest
import torch

import effnet
from effnet.deploy.metadata import ArtifactError, info_for_model
from effnet.deploy.torchscript import EXTRA_FILE, export, load
from tests.deploy.test_inference import mini_efficientnet


@pytest.fixture(scope="module")
def mini():
    return effnet.create_model(mini_efficientnet(), num_classes=4).eval()


def test_a_traced_file_says_what_it_is_and_matches_pytorch(mini, tmp_path):
    info = info_for_model(mini, "torchscript", "fp32", 32)
    (path,) = export(mini, tmp_path / "m.pt", info)
    extra = {EXTRA_FILE: ""}
    torch.jit.load(str(path), _extra_files=extra)  # readable without effnet
    assert b'"format": "torchscript"' in extra[EXTRA_FILE]
    loaded_info, run = load(path, 1)
    assert loaded_info == info
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(run(x), mini(x), atol=1e-5, rtol=0)


def test_reduced_precision_and_damaged_or_foreign_files_are_refused(mini, tmp_path):
    int8 = dataclasses.replace(info_for_model(mini, "torchscript", "fp32", 32), precision="int8")
    with pytest.raises(ValueError, match="TorchScript is written at fp32, not int8"):
        export(mini, tmp_path / "m.pt", int8)
    # A file traced by hand, not by effnet: it runs, but nothing says what its outputs mean.
    foreign = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.trace(mini, torch.randn(2, 3, 32, 32), check_trace=False), foreign)
    with pytest.raises(ArtifactError, match=r"foreign\.pt: the TorchScript file carries no effnet"):
        load(foreign, 1)
    foreign.write_bytes(foreign.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=r"foreign\.pt: not a loadable TorchScript file"):
        load(foreign, 1)
