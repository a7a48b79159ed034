"""The backend names the CLI offers before importing torch are the ones the engines build."""

import pytest

from effnet.deploy import backends
from effnet.deploy.inference import backend_available, optimize_for_inference


def test_auto_tries_only_backends_that_exist_and_bench_times_every_one():
    assert set(backends.AUTO_CANDIDATES) <= set(backends.BACKENDS)
    assert ("plain", *backends.BACKENDS, "auto") == backends.BENCH_BACKENDS
    assert set(backends.RUN_BACKENDS) >= {"auto", "eager", "onnxruntime", "openvino"}


@pytest.mark.parametrize("name", backends.BACKENDS)
def test_every_named_backend_is_known_to_the_engines(name):
    assert isinstance(backend_available(name), bool)  # an unknown name raises ValueError


def test_a_name_outside_the_list_is_refused_by_the_engines():
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        optimize_for_inference(None, backend="tensorrt")
