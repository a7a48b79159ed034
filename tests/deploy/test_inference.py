"""The fast path: same logits as eager on every backend (issue 7, acceptance 1), and the choice of
backend and precision (issue 13; reduced-precision fidelity is tests/deploy/test_fidelity.py).

B0 and B2 run on eager, ONNX Runtime and OpenVINO in the default run. torch.compile takes one to
two minutes per EfficientNet on a 2-core CPU (inductor compiles C++ for every fused kernel), so the
default run covers it with a two-stage network holding every layer kind of B0 (stem, MBConv1,
MBConv6 with SE and skip, head, classifier); B0 and B2 through compile are in the slow run.
"""

import dataclasses
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import effnet
from effnet.deploy import inference
from effnet.deploy.cpu import CpuInfo, cpu_info, parse_cpuinfo
from effnet.deploy.fuse import count_batchnorms
from effnet.deploy.inference import (
    available_backends,
    optimize_for_inference,
    probe_speeds,
)
from tests.deploy.test_cpu import SAPPHIRE
from tests.photo_inputs import photos, with_statistics

#: The backends "auto" times by default (the two that build code first are tested on their own:
#: compile below, fused in tests/deploy/test_fused.py).
FAST_BACKENDS = [b for b in available_backends() if b not in ("compile", "fused")]


def assert_fast_path_matches(model: nn.Module, images: torch.Tensor, backend: str) -> None:
    with torch.no_grad():
        expected = model(images)
    fast = optimize_for_inference(
        model, backend, batch_size=len(images), resolution=images.shape[-1]
    )
    assert fast.backend == backend
    assert count_batchnorms(fast.module) == 0
    assert fast.module.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert expected.abs().max() > 0.5  # real logits, so 1e-4 is a real bound
    torch.testing.assert_close(fast(images), expected, atol=1e-4, rtol=0)
    # Another batch size through the same prepared backend (ONNX: the dynamic batch axis).
    torch.testing.assert_close(fast(images[1:2]), expected[1:2], atol=1e-4, rtol=0)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize(("name", "size"), [("efficientnet_b0", 96), ("efficientnet_b2", 64)])
def test_fast_path_logits_equal_eager(name, size, backend):
    images = photos(size)
    model = with_statistics(effnet.create_model(name), images)
    bns = count_batchnorms(model)
    assert_fast_path_matches(model, images, backend)
    assert count_batchnorms(model) == bns and not model.training  # the input model is untouched


def test_onnxruntime_and_openvino_are_among_the_backends():
    # Declared dependencies of the fast path (the export and openvino extras, both in dev); a
    # silently missing one would skip its checks.
    backends = available_backends()
    assert backends[:1] == ["eager"] and {"onnxruntime", "openvino"} <= set(backends)


def test_onnxruntime_follows_a_new_image_size_with_tf_same_padding():
    # SAME padding depends on the input size, so the ONNX graph is specific to it: a new size
    # must be exported again, not run through the old graph.
    images = photos(72)
    model = with_statistics(effnet.create_model("efficientnet_b0", padding="same"), images)
    fast = optimize_for_inference(model, "onnxruntime", batch_size=3, resolution=64)
    smaller = F.interpolate(images, size=(64, 64), mode="bilinear")
    with torch.no_grad():
        torch.testing.assert_close(fast(images), model(images), atol=1e-4, rtol=0)
        torch.testing.assert_close(fast(smaller), model(smaller), atol=1e-4, rtol=0)
    assert len(fast.runner.sessions) == 2


def mini_efficientnet() -> effnet.NetSpec:
    """B0's stem, its MBConv1 stage and two MBConv6+SE blocks (one with a skip), and a head."""
    b0 = effnet.EFFICIENTNET_B0
    stages = (b0.stages[0], dataclasses.replace(b0.stages[1], repeats=2))
    return b0.replace(name="mini", stages=stages, head_channels=64, resolution=48)


def test_compile_backend_matches_eager_on_every_layer_kind():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    assert_fast_path_matches(model, images, "compile")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size"), [("efficientnet_b0", 96), ("efficientnet_b2", 64)])
def test_compile_backend_logits_equal_eager(name, size):
    images = photos(size)
    assert_fast_path_matches(with_statistics(effnet.create_model(name), images), images, "compile")


def test_auto_measures_the_candidates_and_keeps_the_fastest(capsys):
    images = photos(64)
    model = with_statistics(effnet.create_model("efficientnet_b0"), images)
    fast = optimize_for_inference(model, "auto", batch_size=3, resolution=64)
    assert set(fast.measurements) == {f"{b} fp32" for b in FAST_BACKENDS}
    assert f"{fast.backend} fp32" == max(fast.measurements, key=fast.measurements.get)
    assert fast.precision == "fp32"
    err = capsys.readouterr().err
    assert f"picked {fast.backend} fp32: fastest at batch 3 of {len(FAST_BACKENDS)} timed" in err
    with torch.no_grad():
        torch.testing.assert_close(fast(images), model(images), atol=1e-4, rtol=0)


def test_auto_precision_times_every_allowed_pair_at_the_examples_batch(capsys):
    images = photos(48)
    model = with_statistics(effnet.create_model("efficientnet_b0", num_classes=10), images)
    fast = optimize_for_inference(model, "auto", "auto", images, candidates=["openvino", "eager"])
    native = cpu_info().precisions
    expected = {f"openvino {p}" for p in native if p != "int8"}
    expected |= {f"eager {p}" for p in native if p in ("fp32", "bf16")}
    assert set(fast.measurements) == expected
    assert f"{fast.backend} {fast.precision}" == max(fast.measurements, key=fast.measurements.get)
    assert "fastest at batch 3" in fast.reason
    if cpu_info().supports("int8"):
        assert "int8 left out: no calibration images given" in fast.reason
    assert fast.reason in capsys.readouterr().err
    assert repr(fast).count(f"precision={fast.precision!r}") == 1


AVX2_ONLY = CpuInfo("AMD EPYC 7B12", frozenset({"avx2", "fma"}), 2)


def test_reduced_precision_needs_the_units_and_the_callers_consent(monkeypatch):
    model = effnet.create_model("efficientnet_b0")
    # fp32 unless asked: precision defaults to fp32 whatever the CPU has.
    assert optimize_for_inference(model, "eager", resolution=32).precision == "fp32"
    monkeypatch.setattr(inference, "cpu_info", lambda: AVX2_ONLY)
    with pytest.raises(ValueError, match="has no bf16 units"):
        optimize_for_inference(model, "openvino", "bf16", resolution=32)
    with pytest.raises(ValueError, match="has no int8 units"):
        optimize_for_inference(model, "openvino", "int8", resolution=32)
    allowed, notes = inference.allowed_precisions("auto", torch.zeros(1, 3, 32, 32))
    assert allowed == ["fp32"] and notes == [
        "bf16 left out: no bf16 units on this CPU (AVX2 only)",
        "int8 left out: no int8 units on this CPU (AVX2 only)",
    ]


def test_precisions_a_backend_does_not_run_are_refused():
    model = effnet.create_model("efficientnet_b0")
    with pytest.raises(ValueError, match="int8 needs calibration images"):
        inference.allowed_precisions("int8", None, parse_cpuinfo(SAPPHIRE))
    with pytest.raises(ValueError, match="the compile backend runs fp32, not"):
        optimize_for_inference(model, "compile", "int8", calibration=torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        optimize_for_inference(model, "eager", "fp16")


def test_optimized_model_refuses_training_and_unknown_backends():
    model = effnet.create_model("efficientnet_b0")
    fast = optimize_for_inference(model, "eager", resolution=32)
    with pytest.raises(RuntimeError, match="inference only"):
        fast.train()
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        optimize_for_inference(model, "tensorrt")
    with pytest.raises(ValueError, match="batch_size 2 disagrees with the example's 3"):
        optimize_for_inference(model, "eager", example=torch.zeros(3, 3, 32, 32), batch_size=2)


def test_missing_onnxruntime_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        optimize_for_inference(effnet.create_model("efficientnet_b0"), "onnxruntime")


def test_public_api_exposes_the_fast_path():
    assert effnet.optimize_for_inference is optimize_for_inference
    assert "optimize_for_inference" in effnet.__all__


def test_auto_ranks_candidates_by_their_fastest_round_timed_in_turn(fake_clock):
    # "auto" times the candidates round-robin through the shared loop: on a fake clock, a burst
    # of load (+10 s) in the second round hits both candidates alike and decides nothing; each is
    # ranked by its fastest round. A batch of 3 in 1 s is 3 images per second.
    calls, grad = [], []

    def candidate(name: str, seconds: list[float]):
        def run(x):
            calls.append(name)
            grad.append(torch.is_grad_enabled())
            fake_clock.now += seconds.pop(0)

        return run

    # A warm-up and one timed call each (which sets the turn length), then rounds 1-3.
    fast = candidate("fast", [100.0, 5.0, 1.0, 11.0, 1.5])
    slow = candidate("slow", [100.0, 5.0, 2.0, 12.0, 2.0])
    speeds = probe_speeds({"fast": fast, "slow": slow}, torch.zeros(3, 1), rounds=3)
    assert speeds == {"fast": 3.0, "slow": 1.5}
    assert calls == ["fast", "fast", "slow", "slow"] + ["fast", "slow"] * 3
    assert grad == [False] * 10  # timed without autograd


def test_a_short_call_gets_several_calls_a_turn_so_the_switch_is_one_of_them(fake_clock):
    # Calls of 20 ms: a turn of 0.1 s is 5 calls; the first of each turn pays 30 ms for the
    # switch and is outvoted by the fastest.
    calls = []

    def candidate(name: str, seconds: float):
        def run(x):
            switched = bool(calls) and calls[-1] != name
            calls.append(name)
            fake_clock.now += seconds + (0.03 if switched else 0.0)

        return run

    speeds = probe_speeds(
        {"a": candidate("a", 0.02), "b": candidate("b", 0.025)}, torch.zeros(1, 1), rounds=2
    )
    assert calls == ["a", "a", "b", "b"] + (["a"] * 5 + ["b"] * 5) * 2
    assert speeds == pytest.approx({"a": 50.0, "b": 40.0})
