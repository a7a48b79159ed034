"""CPU features: what /proc/cpuinfo says, and which reduced precisions that allows."""

import pytest

from effnet.deploy.cpu import CpuInfo, cpu_info, parse_cpuinfo

#: A 4th-generation Xeon (Sapphire Rapids: AVX-512, VNNI, BF16, AMX), as the kernel lists it.
SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: ignored: the first processor's entry is the one read
"""
#: A 2nd-generation EPYC (Zen 2): AVX2 only.
EPYC = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_an_amx_xeon_has_every_precision():
    cpu = parse_cpuinfo(SAPPHIRE, cores=2)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+" and cpu.cores == 2
    assert cpu.has_amx and cpu.has_bf16 and cpu.has_vnni and cpu.has_avx512
    assert cpu.precisions == ("fp32", "bf16", "int8")
    assert cpu.kind == "AVX-512 + AMX"
    header = cpu.header()
    assert header.startswith("CPU: Intel(R) Xeon(R) Platinum 8480+, 2 core(s), AVX-512 + AMX")
    assert "ISA: avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8" in header
    assert header.endswith("native precisions: fp32, bf16, int8")


def test_an_avx2_only_cpu_has_fp32_only():
    cpu = parse_cpuinfo(EPYC)
    assert not (cpu.has_bf16 or cpu.has_vnni or cpu.has_amx or cpu.has_avx512)
    assert cpu.precisions == ("fp32",) and cpu.kind == "AVX2 only"
    assert cpu.supports("fp32") and not cpu.supports("bf16") and not cpu.supports("int8")


def test_vnni_without_bf16_allows_int8_only():
    # Cascade Lake: AVX-512 VNNI, no BF16; Alder Lake: AVX-VNNI on AVX2.
    cascade = CpuInfo("Xeon Gold 6248", frozenset({"avx2", "avx512f", "avx512_vnni"}), 4)
    alder = CpuInfo("Core i7-12700", frozenset({"avx2", "avx_vnni"}), 8)
    assert cascade.precisions == ("fp32", "int8") and cascade.kind == "AVX-512 VNNI"
    assert alder.precisions == ("fp32", "int8") and alder.kind == "AVX2 + AVX-VNNI"


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        parse_cpuinfo(EPYC).supports("fp8")


def test_this_machine_is_read_from_proc_cpuinfo():
    cpu = cpu_info()
    assert cpu.cores >= 1 and cpu.model
    assert "fp32" in cpu.precisions
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split(":")[1].split()
    assert cpu.flags == frozenset(flags)
    assert cpu.has_bf16 == bool({"avx512_bf16", "amx_bf16"} & set(flags))
