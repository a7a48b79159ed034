import os

import pytest
import torch

# Two cores in CI: keep torch from oversubscribing them when pytest runs subprocesses too.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path_factory):
    # No test reads or fills the user's ~/.cache/effnet; subprocesses inherit the variable.
    monkeypatch.setenv("EFFNET_HOME", str(tmp_path_factory.getbasetemp() / "effnet_home"))


@pytest.fixture(scope="module")
def chelsea_png(tmp_path_factory):
    """scikit-image's cat photograph as a PNG file (the CAM tests' Figure 7 subject)."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path
