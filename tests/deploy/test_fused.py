"""The fused MBConv kernel: every block kind and stride of B0, Lite0 and EdgeTPU-S equals eager,
block by block and as a whole network, on statistics from photographs and on the real Lite0
weights; a CPU without AVX2/FMA is refused; a second process reuses the build.

The extension is compiled once per test session (the module fixture; about 30 s of CPU time on
this project's 2-core machine, longer while it is loaded), then every test here takes seconds.
"""

import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

import effnet
from effnet.deploy import fused, inference
from effnet.deploy.cpu import CpuInfo, cpu_info
from effnet.deploy.fuse import fold_batchnorm
from effnet.deploy.inference import optimize_for_inference
from effnet.nn.blocks import MBConv
from tests.photo_inputs import photos, real_lite0, with_statistics

MODELS = ("efficientnet_b0", "efficientnet_lite0", "efficientnet_es")


@pytest.fixture(scope="module")
def kernel():
    """The built extension, in the test run's shared build folder (tests/conftest.py)."""
    start = time.perf_counter()
    module = fused.load_kernel()
    print(f"fused kernel ready in {time.perf_counter() - start:.1f} s")
    return module


@pytest.fixture(scope="module")
def images():
    return photos(64)


def folded(name: str, images: torch.Tensor, **kwargs) -> torch.nn.Module:
    model = with_statistics(effnet.create_model(name, **kwargs), images)
    return fold_batchnorm(model, strict=False)


def block_kind(block: MBConv) -> tuple:
    dw = block.depthwise.conv
    act = type(block.depthwise.act).__name__
    return dw.kernel_size[0], dw.stride[0], block.se is not None, block.expand is None, act


@pytest.mark.parametrize("name", MODELS)
def test_every_mbconv_block_equals_eager(kernel, images, name):
    model = folded(name, images)
    width = kernel.vector_width()
    kinds = set()
    with torch.no_grad():
        x = model.stem(images).contiguous(memory_format=torch.channels_last)
        for block in (b for stage in model.blocks for b in stage):
            expected = block(x)
            if isinstance(block, MBConv):
                kinds.add(block_kind(block))
                got = fused.MBConvKernel(block, width)(x)
                scale = expected.abs().max()
                assert scale > 0.1
                torch.testing.assert_close(got, expected, atol=1e-5 * scale, rtol=1e-5)
            x = expected
    assert {s for _, s, *_ in kinds} == {1, 2}
    assert any(se for _, _, se, _, _ in kinds) == (name == "efficientnet_b0")


def test_the_blocks_cover_every_kind_and_edgetpu_keeps_its_fused_blocks(kernel):
    kinds, eager_blocks = set(), set()
    for name in MODELS:
        model = fused.fuse_blocks(fold_batchnorm(effnet.create_model(name), strict=False))
        for module in model.modules():
            if isinstance(module, fused.MBConvKernel):
                kinds.add((module.kernel, module.stride, bool(module.se), module.act))
            elif type(module).__name__ == "FusedMBConv":
                eager_blocks.add(name)
    assert {(3, 1), (3, 2), (5, 1), (5, 2)} == {(k, s) for k, s, _, _ in kinds}
    assert {se for _, _, se, _ in kinds} == {True, False}
    assert {a for *_, a in kinds} == {1, 2, 3}  # SiLU (B0), ReLU (EdgeTPU), ReLU6 (Lite0)
    assert eager_blocks == {"efficientnet_es"}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_backend_logits_equal_eager(kernel, images, name, batch):
    model = with_statistics(effnet.create_model(name), images)
    with torch.no_grad():
        expected = model(images[:batch])
    fast = optimize_for_inference(model, "fused", example=images[:batch])
    assert fast.backend == "fused" and fast.precision == "fp32"
    assert expected.abs().max() > 0.5
    torch.testing.assert_close(fast(images[:batch]), expected, atol=1e-4, rtol=0)
    if batch == 1:  # another image size through the same prepared model
        smaller = F.interpolate(images[:batch], size=(40, 40), mode="bilinear")
        with torch.no_grad():
            # Statistics from 64 px let B0's logits grow to ~1e2 at 40 px: a relative bound (fp32
            # summation order alone moves them by ~1e-5 of that).
            expected = model(smaller)
            atol = 2e-5 * expected.abs().max().item()
            torch.testing.assert_close(fast(smaller), expected, atol=atol, rtol=0)


def test_tf_same_padding_at_an_odd_size(kernel):
    # "SAME" pads strided convs asymmetrically, from the input size: 57 px is odd at every stride.
    images = photos(57)
    model = with_statistics(effnet.create_model("efficientnet_b0", padding="same"), images)
    fast = optimize_for_inference(model, "fused", example=images)
    with torch.no_grad():
        torch.testing.assert_close(fast(images), model(images), atol=1e-4, rtol=0)


def test_squeeze_excitation_kept_in_memory_equals_recomputed(kernel, images, monkeypatch):
    model = with_statistics(effnet.create_model("efficientnet_b0"), images)
    fast = optimize_for_inference(model, "fused", example=images)
    monkeypatch.setattr(fused, "SE_STORE", True)
    kept = fast(images)
    monkeypatch.setattr(fused, "SE_STORE", False)
    torch.testing.assert_close(fast(images), kept, atol=1e-5, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(kept, model(images), atol=1e-4, rtol=0)


def test_real_lite0_weights_on_photographs(kernel):
    model = real_lite0()
    images = photos(224)
    with torch.no_grad():
        expected = model(images)
    got = optimize_for_inference(model, "fused", example=images)(images)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert 281 <= int(got.argmax(1)[1]) <= 285  # Chelsea is a cat: ImageNet classes 281-285


def test_a_cpu_without_avx2_is_refused(monkeypatch, images):
    old = CpuInfo("Old Xeon", frozenset({"sse4_2", "avx"}), 2)
    monkeypatch.setattr(fused, "cpu_info", lambda: old)
    model = effnet.create_model("efficientnet_lite0")
    with pytest.raises(ValueError, match=r"needs AVX2 and FMA.*Old Xeon.*lacks AVX2, FMA"):
        optimize_for_inference(model, "fused", batch_size=1, resolution=32)
    assert not fused.fused_available()
    assert "fused" not in inference.available_backends()
    # "auto" leaves it out instead of failing.
    fast = optimize_for_inference(model, "auto", candidates=("fused", "eager"), example=images)
    assert set(fast.measurements) == set() and fast.backend == "eager"


def test_a_second_process_reuses_the_build(kernel, images):
    builds = [b for b in fused.build_dir().rglob("*.so") if kernel.__name__ in str(b)]
    assert len(builds) == 1
    before = builds[0].stat().st_mtime_ns
    code = "from effnet.deploy.fused import load_kernel; print(load_kernel().vector_width())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert int(out.stdout) == kernel.vector_width()
    assert builds[0].stat().st_mtime_ns == before  # loaded, not compiled again


def test_vector_width_matches_the_isa(kernel):
    assert kernel.vector_width() == (16 if cpu_info().has_avx512 else 8)
