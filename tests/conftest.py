import os
from types import SimpleNamespace

import pytest
import torch

#: pytest-xdist workers (``make test`` runs one per core) share the cores: each worker's torch, and
#: the subprocesses its tests start, get an equal share, so that no core runs two thread pools.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, (os.cpu_count() or 1) // WORKERS))
torch.set_num_threads(THREADS)
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path_factory):
    # No test reads or fills the user's ~/.cache/effnet; subprocesses inherit the variable.
    monkeypatch.setenv("EFFNET_HOME", str(tmp_path_factory.getbasetemp() / "effnet_home"))


@pytest.fixture(scope="session", autouse=True)
def _shared_extension_builds(tmp_path_factory):
    """The fused backend's C++ build (16-60 s) and the short detector training
    (tests/detection/trained.py, 50-100 s) are made once per test run, not once per
    worker: the folder above a worker's base folder is the run's own. Session-wide, so module
    fixtures that build it see the same folder as the tests."""
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_EXTENSIONS_DIR", str(run_folder / "torch_extensions"))
        patch.setenv("EFFNET_TEST_RUN_DIR", str(run_folder))  # tests/detection/trained.py
        yield


@pytest.fixture
def fake_clock(monkeypatch) -> SimpleNamespace:
    """The clock of effnet's timing loop, moved only by the test (``fake_clock.now += s``): every
    time it reports is exact, whatever the machine is doing."""
    from effnet.deploy import timing

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    return clock


@pytest.fixture(scope="module")
def chelsea_png(tmp_path_factory):
    """scikit-image's cat photograph as a PNG file (the CAM tests' Figure 7 subject)."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


#: Test modules that run OpenVINO, ONNX Runtime and torch.compile inside the test process. After
#: some 900 other tests had run in one process, torch.compile's compiler probe crashed it in
#: tests/cli/test_bench.py (gdb: heap corruption found while reading a subprocess's output); a
#: DataLoader's fork and a subprocess.run after OpenVINO had crashed it before. Alone, these modules
#: pass. ``make test`` therefore runs them in a second pytest run of their own (``-m engines``);
#: in a single run they come last.
ENGINE_MODULES = (
    "tests/benchmarks/test_cpu_inference.py",
    "tests/benchmarks/test_deploy_engines.py",
    "tests/cli/test_deployed.py",
    "tests/deploy/test_every_format.py",
    "tests/deploy/test_executorch.py",
    "tests/deploy/test_litert.py",
    "tests/deploy/test_onnx.py",
    "tests/speed/test_compare.py",
    "tests/cli/test_bench.py",
    "tests/cli/test_pick.py",
    "tests/cli/test_quantize.py",
    "tests/deploy/test_artifact.py",
    "tests/deploy/test_fidelity.py",
    "tests/deploy/test_inference.py",
    "tests/deploy/test_openvino.py",
    "tests/experiments/test_pick.py",
    "tests/deploy/test_quantize.py",
)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker
def pytest_collection_modifyitems(config, items):
    """The engine modules are marked ``engines`` and come after every other test."""
    for item in items:
        if item.nodeid.startswith(ENGINE_MODULES):
            item.add_marker(pytest.mark.engines)
    items.sort(key=lambda item: item.nodeid.startswith(ENGINE_MODULES))
