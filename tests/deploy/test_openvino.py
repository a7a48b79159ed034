"""The OpenVINO backend: fp32 logits equal eager's, the precision hint is always set and read back,
and a missing install or calibration is a clear error."""

import sys

import openvino as ov
import pytest
import torch

import effnet
from effnet.deploy.cpu import cpu_info
from effnet.deploy.fuse import fold_batchnorm
from effnet.deploy.openvino import CHUNK, PRECISION_HINTS, OpenVinoRunner
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import nineteen_views, photos, with_statistics


@pytest.fixture(scope="module")
def mini():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        return folded, images, model(images)


def compiled_hints(runner: OpenVinoRunner) -> set:
    """The precision hint of every model the runner compiled (a queue's requests share one)."""
    requests = [r[0] if isinstance(r, ov.AsyncInferQueue) else r for r in runner.compiled.values()]
    return {r.get_compiled_model().get_property("INFERENCE_PRECISION_HINT") for r in requests}


def test_fp32_is_stated_and_matches_eager(mini):
    folded, images, expected = mini
    runner = OpenVinoRunner(folded, threads=2)
    assert runner.streamed_for(images).hint == "f32"  # never left to the plugin
    torch.testing.assert_close(runner(images), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(runner(images[1:2]), expected[1:2], atol=1e-4, rtol=0)  # batch 1
    assert compiled_hints(runner) == {ov.Type.f32}
    assert len(runner.models) == 1  # one conversion for every batch size


def test_a_large_batch_runs_in_chunks_on_every_stream_and_keeps_its_order(mini):
    """A batch of at least two chunks per stream is split over the streams (OpenVINO's throughput
    mode); its rows come back in input order, equal to eager's, the ragged last chunk included."""
    folded, images, _ = mini
    batch = nineteen_views(images)
    assert len(batch) % CHUNK and len(batch) >= 2 * CHUNK * 2
    with torch.no_grad():
        expected = folded(batch)
    runner = OpenVinoRunner(folded, threads=2)
    torch.testing.assert_close(runner(batch), expected, atol=1e-4, rtol=0)
    assert set(runner.compiled) == {((3, 48, 48), 2)}  # one queue of two streams
    torch.testing.assert_close(runner(batch[:5]), expected[:5], atol=1e-4, rtol=0)
    assert set(runner.compiled) == {((3, 48, 48), 2), ((3, 48, 48), 1)}  # and one whole request
    queue = runner.compiled[(3, 48, 48), 2]
    assert str(queue[0].get_compiled_model().get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
    one_stream = OpenVinoRunner(folded, threads=2, streams=1)
    torch.testing.assert_close(one_stream(batch), expected, atol=1e-4, rtol=0)
    assert set(one_stream.compiled) == {((3, 48, 48), 1)}  # the whole batch as one request


def test_bf16_runs_where_the_cpu_has_it_and_is_refused_where_not(mini):
    folded, images, expected = mini
    runner = OpenVinoRunner(folded, threads=2, precision="bf16")
    assert runner.streamed_for(images).hint == "bf16"
    if cpu_info().has_bf16:
        got = runner(images)
        assert compiled_hints(runner) == {ov.Type.bf16}
        assert torch.equal(got.argmax(1), expected.argmax(1))
        assert 0 < (got - expected).abs().max() < 0.1 * expected.abs().max()  # bf16, not fp32
    else:
        with pytest.raises(RuntimeError, match="not the bf16 asked for"):
            runner(images)


def test_int8_runs_on_calibration_and_keeps_the_top1(mini):
    folded, images, expected = mini
    runner = OpenVinoRunner(folded, threads=2, precision="int8", calibration=images)
    got = runner(images)
    assert compiled_hints(runner) == {ov.Type.f32}  # the unquantized operations stay fp32
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert PRECISION_HINTS["int8"] == "f32"


def test_bad_precisions_and_a_missing_install_are_clear_errors(mini, monkeypatch):
    folded = mini[0]
    with pytest.raises(ValueError, match="int8 needs calibration images"):
        OpenVinoRunner(folded, 2, "int8")
    with pytest.raises(ValueError, match="openvino runs fp32, bf16 or int8, not 'fp16'"):
        OpenVinoRunner(folded, 2, "fp16")
    monkeypatch.setitem(sys.modules, "openvino", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'effnet\[openvino\]'"):
        OpenVinoRunner(folded, 2)


def test_a_fresh_process_quantizes_without_torchs_cuda_home_note():
    """NNCF imports torch's C++-extension helper, which logs a CUDA_HOME note on a machine with a
    CUDA build of torch and no GPU (this one); effnet keeps it from the user."""
    import subprocess

    script = (
        "import torch, effnet\n"
        "from effnet.deploy.openvino import OpenVinoRunner\n"
        "net = effnet.create_model('efficientnet_b0').eval()\n"
        "x = torch.randn(4, 3, 32, 32)\n"
        "OpenVinoRunner(net, 1, 'int8', calibration=x)(x)\n"
        "import sys; print('torch.utils.cpp_extension' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip().endswith("True")  # the helper was imported: the note had its chance
    assert "CUDA_HOME" not in done.stderr and "Warning" not in done.stderr
