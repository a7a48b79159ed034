"""``pick()``: the choice among measured variants, its report, and the default measurement through
``bench``. Timings are fake, so the choice is deterministic; ``effnet pick`` end to end is
tests/cli/test_pick.py. Paper top-1 of B0..B7 is docs/paper.md section 1 (Table 2)."""

import types

import pytest

from effnet.experiments import pick as pick_module
from effnet.experiments.pick import CANDIDATES, Pick, Timing, pick
from effnet.speed.bench import BenchResult

PAPER_TOP1 = (77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3)


def doubling(name, backend, batch_size, threads, runs, precision):
    """B_i takes 10 ms * 2**i per batch."""
    return 0.010 * 2 ** int(name[-1]), backend, precision


def test_candidates_are_the_variants_with_a_paper_top1_cheapest_first():
    assert tuple(f"efficientnet_b{i}" for i in range(8)) == CANDIDATES


def test_latency_budget_keeps_the_most_accurate_fitting_variant():
    result = pick(latency_ms=50, backend="eager", threads=1, measure=doubling, family="b")
    assert [t.model for t in result.timings] == [f"efficientnet_b{i}" for i in range(4)]
    assert [t.fits for t in result.timings] == [True, True, True, False]
    assert [t.top1 for t in result.timings] == list(PAPER_TOP1[:4])
    assert result.best.model == "efficientnet_b2"
    assert result.batch_size == 1 and result.threads == 1
    assert result.stopped == "efficientnet_b3 is over budget; bigger variants are slower"


def test_throughput_budget_defaults_to_batch_32():
    result = pick(throughput=500, backend="eager", measure=doubling, family="b")
    assert result.batch_size == 32
    assert result.timings[0].images_per_s == pytest.approx(3200)
    assert result.best.model == "efficientnet_b2"


def test_auto_is_resolved_on_the_first_variant_and_kept():
    seen = []

    def resolves(name, backend, batch_size, threads, runs, precision):
        seen.append((backend, precision))
        return 0.001, "openvino", "bf16"

    result = pick(latency_ms=1e6, backend="auto", precision="auto", measure=resolves, family="b")
    assert seen == [("auto", "auto")] + [("openvino", "bf16")] * 7
    assert (result.backend, result.precision) == ("openvino", "bf16")
    assert "top-1 is the paper's fp32 figure" in result.format()


def test_the_default_measurement_is_benchs_mean_after_one_warmup(monkeypatch):
    calls = []

    def fake_bench(name, backend, batch_size, threads, runs, warmup, precision):
        calls.append((name, backend, batch_size, threads, runs, warmup, precision))
        return BenchResult(name, "eager", batch_size, threads, 224, 1, [0.01, 0.03])

    monkeypatch.setattr(pick_module, "bench", fake_bench)
    monkeypatch.setattr(pick_module, "time", types.SimpleNamespace(monotonic=lambda: 0.0))
    result = pick(latency_ms=25, backend="auto", threads=1, runs=2, family="b")
    assert calls[0] == ("efficientnet_b0", "auto", 1, 1, 2, 1, "fp32")
    assert [c[1] for c in calls[1:]] == ["eager"] * 7  # what bench reported it resolved to
    assert result.timings[0].latency_ms == pytest.approx(20.0)  # the mean of the runs
    assert result.best.model == "efficientnet_b7"


def test_report_names_the_choice_or_the_fastest_miss():
    timings = [
        Timing("efficientnet_b0", 77.1, 10.0, 100.0, True),
        Timing("efficientnet_b1", 79.1, 20.0, 50.0, False),
    ]
    text = Pick("15 ms per batch", "eager", 1, 2, timings, "why").format()
    lines = text.splitlines()
    assert lines[0] == (
        "budget: 15 ms per batch (backend eager, precision fp32, batch 1, 2 thread(s))"
    )
    assert lines[3].split() == ["efficientnet_b0", "77.1", "10.0", "100.0", "yes"]
    assert lines[4].split()[-1] == "no"
    assert lines[5] == "stopped: why"
    assert lines[6] == (
        "recommended: efficientnet_b0 (paper top-1 77.1%, 10.0 ms per batch, 100.0 img/s)"
    )
    miss = Pick("5 ms per batch", "eager", 1, 2, [timings[1]], "why")
    assert miss.best is None
    assert miss.format().splitlines()[-1] == (
        "no EfficientNet fits 5 ms per batch here; the fastest, efficientnet_b1, takes 20.0 ms "
        "per batch (50.0 img/s)"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give exactly one budget"),
        ({"latency_ms": 1, "throughput": 1}, "give exactly one budget"),
        ({"latency_ms": 0}, "the budget must be positive"),
        ({"latency_ms": 10, "threads": 0}, "threads must be positive"),
        ({"latency_ms": 10, "time_limit_s": -1}, "time limit must not be negative"),
        ({"latency_ms": 10, "family": "mobilenet"}, "unknown family 'mobilenet'"),
    ],
)
def test_bad_arguments_are_refused_before_timing(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pick(**kwargs, measure=lambda *a: pytest.fail("timed before checking arguments"))
