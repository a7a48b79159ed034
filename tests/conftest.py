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


#: Test modules that run OpenVINO (and ONNX Runtime) inside the test process. Forking a process
#: whose inference thread pools have run crashed the whole test process twice here (a DataLoader's
#: workers, a subprocess.run) at a later, unrelated test, so these modules run last.
ENGINE_MODULES = (
    "tests/benchmarks/test_cpu_inference.py",
    "tests/cli/test_bench.py",
    "tests/cli/test_pick.py",
    "tests/cli/test_quantize.py",
    "tests/speed/test_artifact.py",
    "tests/speed/test_fidelity.py",
    "tests/speed/test_inference.py",
    "tests/speed/test_openvino_runner.py",
    "tests/speed/test_pick.py",
    "tests/speed/test_quantize.py",
)


def pytest_collection_modifyitems(config, items):
    """Every other test first, in its usual order; the engine modules after them."""
    items.sort(key=lambda item: item.nodeid.startswith(ENGINE_MODULES))
