"""Which autocast dtype a run gets for its ``amp`` setting and device."""

import pytest
import torch

from effnet.train.amp import resolve_amp

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_explicit_modes():
    assert resolve_amp("none", CUDA) is None
    assert resolve_amp("bf16", CPU) is torch.bfloat16
    assert resolve_amp("fp16", CUDA) is torch.float16


def test_fp16_needs_a_gpu():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_amp("fp16", CPU)


def test_auto_is_off_on_cpu():
    assert resolve_amp("auto", CPU) is None


@pytest.mark.parametrize(("has_bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_a_gpu_prefers_bf16_and_falls_back_to_fp16(monkeypatch, has_bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: has_bf16)
    assert resolve_amp("auto", CUDA) is expected
