"""``bench()``: one model on one backend, reported from the shared timing loop's per-run times;
the summaries it derives, and the throughput table it prints. (The ``effnet bench`` command end to
end is tests/cli/test_bench.py.)"""

import re
import types

import pytest
import torch

from effnet.deploy import timing
from effnet.deploy.cpu import cpu_info
from effnet.speed import bench as bench_module
from effnet.speed.bench import BenchResult, bench, format_results


def result(**overrides) -> BenchResult:
    fields = {
        "model": "efficientnet_b0",
        "backend": "eager",
        "batch_size": 4,
        "threads": 2,
        "resolution": 224,
        "params": 5_288_548,
        "times_s": [0.1, 0.2, 0.3],
    }
    return BenchResult(**{**fields, **overrides})


def test_summaries_of_the_runs():
    r = result()
    assert r.mean_s == pytest.approx(0.2)
    assert r.std_s == pytest.approx(0.1)  # sample standard deviation
    assert r.min_s == 0.1
    assert r.images_per_s == pytest.approx(4 / 0.2)
    assert result(times_s=[0.5]).std_s == 0.0  # one run has no spread
    data = r.to_dict()
    assert data["times_s"] == [0.1, 0.2, 0.3] and data["mean_s"] == pytest.approx(0.2)
    assert data["images_per_s"] == pytest.approx(20.0) and data["build_memory_mb"] is None


def test_bench_reports_the_timing_loops_per_run_times(monkeypatch):
    # A clock that moves 0.25 s per reading: each run then takes exactly 0.25 s, so what bench
    # reports can only have come from time_runs.
    ticks = iter(range(1000))
    monkeypatch.setattr(
        timing, "time", types.SimpleNamespace(perf_counter=lambda: 0.25 * next(ticks))
    )
    before = torch.get_num_threads()
    r = bench("efficientnet_b0", "plain", batch_size=2, threads=1, resolution=32, runs=3)
    assert r.times_s == [0.25, 0.25, 0.25]
    assert (r.model, r.backend, r.batch_size, r.threads, r.resolution) == (
        "efficientnet_b0", "plain", 2, 1, 32,
    )  # fmt: skip
    assert r.params == 5_288_548  # B0: 5.3M (docs/paper.md section 1, Table 2)
    assert r.images_per_s == pytest.approx(8.0)
    assert r.picked == {} and r.build_memory_mb is None
    assert torch.get_num_threads() == before  # threads restored


def test_auto_reports_the_backend_it_resolved_to_and_probes_that_one(monkeypatch):
    probed = []

    def fake_peak_memory(name, backend, batch_size, threads, resolution):
        probed.append((name, backend, batch_size, threads, resolution))
        return 100.0, 20.0, "VmHWM"

    monkeypatch.setattr(bench_module, "peak_memory", fake_peak_memory)
    r = bench("efficientnet_b0", "auto", 2, 1, 32, runs=1, warmup=0, memory=True)
    assert f"{r.backend} fp32" == max(r.picked, key=r.picked.get) and r.precision == "fp32"
    assert probed == [("efficientnet_b0", r.backend, 2, 1, 32)]
    assert (r.build_memory_mb, r.run_memory_mb, r.memory_method) == (100.0, 20.0, "VmHWM")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch size must be positive"),
        ({"threads": -1}, "threads must be positive"),
        ({"resolution": 4}, "resolution must be at least 8"),
        ({"runs": 0, "resolution": 32}, "runs must be at least 1"),
        ({"backend": "tensorrt", "resolution": 32}, "unknown backend 'tensorrt'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bench("efficientnet_b0", **kwargs)


def test_throughput_table_has_one_row_per_result_under_the_cpu_header():
    int8 = result(backend="onnxruntime", times_s=[0.05], precision="int8")
    text = format_results([result(), int8])
    header, *lines = text.splitlines()
    assert header == cpu_info().header()
    assert lines[0].split() == [
        "model", "backend", "precision", "batch", "threads", "res", "ms/batch", "std", "img/s",
    ]  # fmt: skip
    assert lines[1] == "-" * len(lines[0])
    assert lines[2].split() == [
        "efficientnet_b0",
        "eager",
        "fp32",
        "4",
        "2",
        "224",
        "200.0",
        "100.0",
        "20.0",
    ]
    assert lines[3].split()[1:3] == ["onnxruntime", "int8"] and lines[3].split()[-1] == "80.0"
    assert len(lines) == 4  # no picked or memory lines unless there is something to say


def test_reduced_precision_is_timed_at_that_precision():
    r = bench("efficientnet_b0", "eager", 2, 1, 32, runs=1, warmup=0, precision="fp32")
    assert r.precision == "fp32" and r.to_dict()["precision"] == "fp32"
    with pytest.raises(ValueError, match="'plain' is the fp32 model as built, not int8"):
        bench("efficientnet_b0", "plain", 2, 1, 32, runs=1, precision="int8")


def test_table_names_autos_choice_and_memory_columns():
    auto = result(picked={"onnxruntime": 80.0, "eager": 20.0}, backend="onnxruntime")
    mem = result(build_memory_mb=123.4, run_memory_mb=45.6, memory_method="VmHWM")
    text = format_results([auto, mem])
    lines = text.splitlines()[1:]
    assert lines[0].endswith("build MB  run MB")
    assert lines[3].split()[-2:] == ["123", "46"]
    assert lines[2].split()[-2:] == ["0", "0"]  # not measured for that row
    assert (
        "auto picked onnxruntime fp32 for efficientnet_b0 (onnxruntime 80.0 img/s, "
        "eager 20.0 img/s)" in text
    )
    assert re.search(r"^memory: peak resident-set growth .* \(VmHWM\)$", text, re.M)
