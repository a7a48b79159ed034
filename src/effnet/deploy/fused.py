"""The "fused" backend: every MBConv block as one C++ kernel that keeps its wide tensors in cache.

Layer by layer, an MBConv block writes its expanded tensor (6x the block's width) to memory and
reads it back three times (expand output, depthwise output, SE scaling); on a CPU that traffic
bounds every layer-by-layer engine. The kernel (``fused_kernel.cpp``) computes each
output row from a ring of expanded input rows held in cache and writes only the block's narrow
output. Blocks with squeeze-excitation need the pooled mean before the projection, so they take
two passes: the first keeps the depthwise output in memory (``SE_STORE=True``, the default: it
measured faster than recomputing the expand and depthwise convs, which doubles their arithmetic),
the second scales it and projects; ``SE_STORE=False`` recomputes instead (benchmarks/fused.py
times both per block).

Only :class:`~effnet.nn.blocks.MBConv` is fused. The stem, head, classifier and EdgeTPU's
fused-MBConv blocks (a full kxk conv, which is compute-bound rather than memory-bound, so fusing
it saves little) run as the folded torch modules they are.

Measured (benchmarks/RESULTS.md): 1.3-1.6x eager torch, but not yet faster than ONNX Runtime or
OpenVINO, whose 1x1 convs are better GEMMs than this kernel's; ``auto`` picks it only where it wins.

The extension is compiled on first use with ``-march=native`` into ``$EFFNET_HOME/torch_extensions``
(one build per CPU and source, shared by every later process). It needs AVX2 and FMA (AVX-512 is
used where present); elsewhere :class:`FusedRunner` refuses with a ValueError.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..nn.blocks import MBConv
from ..nn.padding import Conv2dSame, same_padding
from ..weights.fetch import home
from .cpu import CpuInfo, cpu_info

SOURCE = Path(__file__).with_name("fused_kernel.cpp")
#: The ISA flags (as /proc/cpuinfo names them) the kernel cannot run without.
REQUIRED_FLAGS = ("avx2", "fma")
#: Whether squeeze-excitation blocks keep the depthwise output in memory between their two passes
#: (True) or recompute it (False). B0, 1 thread, batch 8: 59 vs 52 images per CPU-second.
SE_STORE = True
_ACTS = {nn.Identity: 0, nn.SiLU: 1, nn.ReLU: 2, nn.ReLU6: 3}


def check_cpu(cpu: CpuInfo | None = None) -> None:
    """Refuse (ValueError) on a CPU without the instructions the kernel is compiled for."""
    cpu = cpu or cpu_info()
    missing = [f for f in REQUIRED_FLAGS if f not in cpu.flags]
    if missing:
        raise ValueError(
            f"the fused backend needs {' and '.join(f.upper() for f in REQUIRED_FLAGS)}; this CPU "
            f"({cpu.model}) lacks {', '.join(f.upper() for f in missing)}: use backend='eager'"
        )


def fused_available(cpu: CpuInfo | None = None) -> bool:
    """Whether the fused backend can run here: a C++ compiler to build it, a CPU to run it."""
    cpu = cpu or cpu_info()
    has_compiler = any(shutil.which(cc) for cc in ("c++", "g++"))
    return has_compiler and all(f in cpu.flags for f in REQUIRED_FLAGS)


def build_dir() -> Path:
    """Where the compiled extension is cached: ``$TORCH_EXTENSIONS_DIR`` when set (torch's own
    variable for it, so one build can serve several caches), else under effnet's cache root."""
    chosen = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(chosen) if chosen else home() / "torch_extensions"


@functools.cache
def load_kernel() -> Any:
    """The compiled extension, built on first use; a build for this CPU and source is reused.

    The name carries a digest of the source and of the CPU's flags: a cache shared between machines
    must not hand a ``-march=native`` build to a CPU that lacks its instructions.
    """
    from torch.utils.cpp_extension import load

    check_cpu()
    cpu = cpu_info()
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(sorted(cpu.flags)).encode())
    name = f"effnet_fused_{digest.hexdigest()[:12]}"
    folder = build_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    return load(
        name=name,
        sources=[str(SOURCE)],
        build_directory=str(folder),
        extra_cflags=["-O3", "-march=native", "-fopenmp"],
        extra_ldflags=["-fopenmp"],
        verbose=False,
    )


def _act_code(module: nn.Module) -> int:
    try:
        return _ACTS[type(module)]
    except KeyError:
        raise ValueError(f"the fused kernel has no {type(module).__name__} activation") from None


def _padded(t: torch.Tensor, cols: int) -> torch.Tensor:
    """``t`` (rows x n) with zero columns up to ``cols``, contiguous fp32."""
    out = torch.zeros(t.shape[0], cols, dtype=torch.float32)
    out[:, : t.shape[1]] = t
    return out


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


class MBConvKernel(nn.Module):
    """A folded :class:`~effnet.nn.blocks.MBConv` as one kernel call; weights packed for it.

    Packing: 1x1 weights transposed to (in, out) and padded to the vector width with zeros (padded
    channels compute to zero through every activation here), depthwise weights as (k*k, channels).
    """

    def __init__(self, block: MBConv, width: int) -> None:
        super().__init__()
        dw = block.depthwise.conv
        mid, k = dw.out_channels, dw.kernel_size[0]
        cp = _round_up(mid, width)
        self.act = _act_code(block.depthwise.act)
        self.kernel, self.stride, self.mid = k, dw.stride[0], mid
        self.same = isinstance(dw, Conv2dSame)
        self.pad = dw.padding[0] if not self.same else 0
        self.skip = block.has_skip
        with torch.no_grad():
            if block.expand is not None:
                conv = block.expand.conv
                self.register_buffer("we", _padded(conv.weight.flatten(1).t(), cp))
                self.register_buffer("be", _padded(conv.bias[None], cp)[0])
            else:
                self.register_buffer("we", torch.empty(0))
                self.register_buffer("be", torch.empty(0))
            self.register_buffer("wd", _padded(dw.weight.flatten(1).t(), cp))
            self.register_buffer("bd", _padded(dw.bias[None], cp)[0])
            proj = block.project.conv
            self.out_channels = proj.out_channels
            op = _round_up(proj.out_channels, width)
            self.register_buffer("wp", _padded(proj.weight.flatten(1).t(), op))
            self.register_buffer("bp", _padded(proj.bias[None], op)[0])
            se = block.se
            self.se = (
                []
                if se is None
                else [
                    t.detach().float().contiguous()
                    for t in (
                        se.reduce.weight.flatten(1),
                        se.reduce.bias,
                        se.expand.weight.flatten(1),
                        se.expand.bias,
                    )
                ]
            )

    def _geometry(self, h: int, w: int) -> list[int]:
        k, s = self.kernel, self.stride
        if self.same:
            (top, _), (left, _) = same_padding(h, k, s), same_padding(w, k, s)
            ho, wo = -(-h // s), -(-w // s)
        else:
            top = left = self.pad
            ho, wo = (h + 2 * top - k) // s + 1, (w + 2 * left - k) // s + 1
        return [k, s, top, left, ho, wo, self.mid, self.out_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.float().permute(0, 2, 3, 1).contiguous()
        geometry = self._geometry(x.shape[2], x.shape[3])
        out = load_kernel().mbconv(
            nhwc, self.we, self.be, self.wd, self.bd, self.wp, self.bp, self.se, geometry,
            self.act, self.skip, SE_STORE,
        )  # fmt: skip
        return out.permute(0, 3, 1, 2)


def fuse_blocks(module: nn.Module) -> nn.Module:
    """A copy of a folded model with every MBConv replaced by :class:`MBConvKernel`."""
    width = load_kernel().vector_width()
    fused = copy.deepcopy(module)
    for parent in list(fused.modules()):
        for name, child in parent.named_children():
            if isinstance(child, MBConv):
                if child.expand is not None and child.expand.conv.kernel_size != (1, 1):
                    continue
                setattr(parent, name, MBConvKernel(child, width))
    return fused


class FusedRunner:
    """The folded model with its MBConv blocks fused; the rest runs as eager torch (fp32)."""

    def __init__(self, module: nn.Module, precision: str = "fp32") -> None:
        if precision != "fp32":
            raise ValueError(f"the fused backend runs fp32, not {precision!r}")
        check_cpu()
        self.precision = precision
        self.module = fuse_blocks(module).eval()

    def __call__(self, x: torch.Tensor) -> Any:
        x = x.float().contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            return self.module(x)
