"""What this CPU can do: its model name, ISA flags, and which reduced precisions it has units for.

The fast path only offers a reduced precision where the CPU computes it natively: bf16 needs
AVX-512 BF16 or AMX-BF16 (without them bf16 is emulated through fp32 and is slower, not faster),
int8 needs VNNI (AVX-512 VNNI, AVX-VNNI or AMX-INT8; without it int8 dot products take three
instructions and rarely beat fp32 on these memory-bound networks). Every benchmark prints
:meth:`CpuInfo.header` so a figure always travels with the machine it was measured on.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

#: The flags that decide the precision choice, in the order a header lists them.
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class CpuInfo:
    """A CPU as /proc/cpuinfo describes it (``flags`` empty where that file does not exist)."""

    model: str
    flags: frozenset[str]
    cores: int

    @property
    def has_avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def has_amx(self) -> bool:
        """AMX tiles with bf16 or int8 matrix units (Sapphire Rapids and later)."""
        return "amx_tile" in self.flags and bool({"amx_bf16", "amx_int8"} & self.flags)

    @property
    def has_bf16(self) -> bool:
        """Native bf16 arithmetic: AVX-512 BF16 dot products or AMX-BF16 tiles."""
        return bool({"avx512_bf16", "amx_bf16"} & self.flags)

    @property
    def has_vnni(self) -> bool:
        """Native int8 dot products: AVX-512 VNNI, AVX-VNNI or AMX-INT8."""
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & self.flags)

    def supports(self, precision: str) -> bool:
        """Whether ``precision`` runs on native units here (fp32 always does)."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
        return {"fp32": True, "bf16": self.has_bf16, "int8": self.has_vnni}[precision]

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions with native units here, fp32 first."""
        return tuple(p for p in PRECISIONS if self.supports(p))

    @property
    def kind(self) -> str:
        """A short machine class for grouping results: 'AMX', 'AVX-512', 'AVX2' or 'other'."""
        if self.has_amx:
            return "AVX-512 + AMX"
        if self.has_avx512:
            return "AVX-512" + (" VNNI" if self.has_vnni else "")
        if "avx2" in self.flags:
            return "AVX2" + (" + AVX-VNNI" if self.has_vnni else " only")
        return "other"

    def header(self) -> str:
        """One line for a benchmark's header: model, cores, the flags that matter, precisions."""
        isa = " ".join(f for f in ISA_FLAGS if f in self.flags) or "(no flags read)"
        return (
            f"CPU: {self.model}, {self.cores} core(s), {self.kind}; ISA: {isa}; "
            f"native precisions: {', '.join(self.precisions)}"
        )


def parse_cpuinfo(text: str, cores: int | None = None) -> CpuInfo:
    """A :class:`CpuInfo` from the text of /proc/cpuinfo (the first processor's entry)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model or platform.processor() or platform.machine(), flags, cores or 1)


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.is_file() else ""
    return parse_cpuinfo(text, cores)
