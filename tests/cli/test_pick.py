"""``effnet pick``: the most accurate variant that fits a budget, and when it stops measuring.

The selection logic is tested against fake timings (effnet.experiments.pick._measure patched),
so it is deterministic on a busy machine; one real run checks the whole path end to end. Paper
top-1 per variant is from docs/paper.md section 1 (Table 2).
"""

import re
import types

import pytest

from effnet.cli import main
from effnet.experiments import pick as pick_module
from effnet.variants import FAMILIES

#: docs/paper.md section 1, Table 2: ImageNet top-1 of B0..B7.
PAPER_TOP1 = {f"efficientnet_b{i}": t for i, t in enumerate(
    (77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3)
)}  # fmt: skip


#: Each variant's place in its family, cheapest first (B3 -> 3, EdgeTPU-M -> 1, V2-S -> 4).
RANK = {name: i for family in FAMILIES.values() for i, name in enumerate(family)}


class FakeTiming:
    """The i-th variant of a family (B_i) takes 10 ms * 2**i per batch; records every call;
    optionally advances a fake clock."""

    def __init__(self, seconds_per_call: float = 0.0, backend: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.clock = 0.0
        self.seconds_per_call = seconds_per_call
        self.backend = backend

    def __call__(self, name, backend, batch_size, threads, runs, precision="fp32"):
        self.calls.append((name, backend, batch_size, threads, runs))
        self.clock += self.seconds_per_call
        return 0.010 * 2 ** RANK[name], self.backend or backend, precision

    @property
    def measured(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def fake(monkeypatch):
    timing = FakeTiming()
    monkeypatch.setattr(pick_module, "_measure", timing)
    monkeypatch.setattr(pick_module, "time", types.SimpleNamespace(monotonic=lambda: timing.clock))
    return timing


def pick(capsys, *argv: str) -> tuple[int, str]:
    """``effnet pick ARGV``, among the B family unless ARGV names another (--family)."""
    family = [] if "--family" in argv else ["--family", "b"]
    code = main(["pick", *family, *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_latency_budget_picks_the_most_accurate_variant_that_fits(fake, capsys):
    code, out = pick(capsys, "--latency-ms", "50", "--threads", "1", "--backend", "eager")
    assert code == 0
    # 10, 20, 40 ms fit; B3 (80 ms) is over, so nothing bigger is timed.
    assert fake.measured == [f"efficientnet_b{i}" for i in range(4)]
    assert all(c[1:4] == ("eager", 1, 1) for c in fake.calls)  # latency: batch 1
    top1 = PAPER_TOP1["efficientnet_b2"]
    assert f"recommended: efficientnet_b2 (paper top-1 {top1}%, 40.0 ms per batch" in out
    assert "stopped: efficientnet_b3 is over budget" in out
    rows = dict(
        re.findall(r"^(efficientnet_b\d)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(yes|no)$", out, re.M)
    )
    assert rows == {
        "efficientnet_b0": "yes", "efficientnet_b1": "yes", "efficientnet_b2": "yes",
        "efficientnet_b3": "no",
    }  # fmt: skip


def test_budget_just_above_a_variant_includes_it(fake, capsys):
    code, out = pick(capsys, "--latency-ms", "160", "--backend", "eager")
    assert code == 0
    top1 = PAPER_TOP1["efficientnet_b4"]
    assert f"recommended: efficientnet_b4 (paper top-1 {top1}%" in out


def test_budget_below_b0_exits_1_and_says_so(fake, capsys):
    code, out = pick(capsys, "--latency-ms", "5", "--backend", "eager")
    assert code == 1
    assert fake.measured == ["efficientnet_b0"]
    assert "no EfficientNet fits 5 ms per batch here" in out
    assert "the fastest, efficientnet_b0, takes 10.0 ms per batch" in out
    assert "recommended" not in out


def test_throughput_budget_inverts_the_comparison(fake, capsys):
    # Batch 32 by default: B0..B3 give 3200, 1600, 800, 400 img/s.
    code, out = pick(capsys, "--throughput", "500", "--backend", "eager")
    assert code == 0
    assert {c[2] for c in fake.calls} == {32}
    assert fake.measured[-1] == "efficientnet_b3"
    assert "recommended: efficientnet_b2" in out
    # Asking for more images per second gets a smaller network, not a bigger one.
    code, out = pick(capsys, "--throughput", "2000", "--backend", "eager")
    assert code == 0 and "recommended: efficientnet_b0" in out
    code, out = pick(capsys, "--throughput", "5000", "--backend", "eager")
    assert code == 1 and "no EfficientNet fits 5000 img/s here" in out


def test_time_limit_stops_timing_bigger_variants(fake, capsys):
    fake.seconds_per_call = 100.0
    code, out = pick(capsys, "--latency-ms", "1e6", "--time-limit", "250", "--backend", "eager")
    assert code == 0
    assert fake.measured == ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2"]
    assert "stopped: time limit of 250 s reached after efficientnet_b2" in out
    assert "recommended: efficientnet_b2" in out


def test_without_limits_every_variant_is_timed_and_b7_wins(fake, capsys):
    code, out = pick(capsys, "--latency-ms", "1e6", "--backend", "eager")
    assert code == 0
    assert fake.measured == list(PAPER_TOP1)
    assert "stopped: measured every variant" in out
    assert f"recommended: efficientnet_b7 (paper top-1 {PAPER_TOP1['efficientnet_b7']}%" in out


def test_auto_backend_is_resolved_once_on_b0(monkeypatch, fake, capsys):
    calls = []

    def resolves_auto(name, backend, batch_size, threads, runs, precision):
        calls.append((backend, precision))
        if backend == "auto":
            return 0.001, "openvino", "int8"
        return 0.001, backend, precision

    monkeypatch.setattr(pick_module, "_measure", resolves_auto)
    code, out = pick(capsys, "--latency-ms", "1e6", "--precision", "auto")
    assert code == 0
    assert calls == [("auto", "auto")] + [("openvino", "int8")] * 7
    assert "backend openvino, precision int8" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--latency-ms", "0"], "the budget must be positive"),
        (["--throughput", "-3"], "the budget must be positive"),
        (["--latency-ms", "10", "--runs", "0"], "argument --runs: must be at least 1, got 0"),
        (["--latency-ms", "10", "--threads", "-2"], "--threads: must be in [1, 1024], got -2"),
        (["--latency-ms", "10", "--time-limit", "-1"], "time limit must not be negative"),
    ],
)
def test_bad_input_is_a_one_line_error(fake, capsys, argv, message):
    code = main(["pick", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and fake.calls == []
    assert err.startswith("effnet pick: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_real_run_times_b0_and_stops_at_the_time_limit(capsys):
    code, out = pick(
        capsys, "--latency-ms", "100000", "--time-limit", "0", "--backend", "plain", "--runs", "1"
    )
    assert code == 0
    row = re.search(r"^efficientnet_b0\s+77\.1\s+([\d.]+)\s+([\d.]+)\s+yes$", out, re.M)
    assert row, out
    ms, ips = float(row[1]), float(row[2])
    assert ms > 0 and ips == pytest.approx(1000 / ms, rel=0.01, abs=0.05)  # batch 1, 1 decimal
    assert "stopped: time limit of 0 s reached after efficientnet_b0" in out
    assert "recommended: efficientnet_b0 (paper top-1 77.1%" in out


def test_every_family_is_timed_and_the_best_published_top1_that_fits_wins(fake, capsys):
    """Lite, EdgeTPU and V2 are timed beside B, each cheapest first and each stopped at its first
    variant over budget; the recommendation is the best published top-1 among all that fit."""
    code, out = pick(capsys, "--latency-ms", "25", "--backend", "eager", "--family", "all")
    assert code == 0
    # 10 and 20 ms fit, the third of each family (40 ms) is over budget.
    assert fake.measured == [
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
        "efficientnet_es", "efficientnet_em", "efficientnet_el",
        "efficientnetv2_b0", "efficientnetv2_b1", "efficientnetv2_b2",
    ]  # fmt: skip
    # V2-B1 (79.8%, the V2 reference table) beats B1 (79.1%), EdgeTPU-M (78.69%), Lite1 (76.7%).
    assert "recommended: efficientnetv2_b1 (paper top-1 79.8%" in out


def test_one_family_alone(fake, capsys):
    code, out = pick(capsys, "--latency-ms", "1e6", "--backend", "eager", "--family", "lite")
    assert code == 0 and fake.measured == [f"efficientnet_lite{i}" for i in range(5)]
    assert "recommended: efficientnet_lite4 (paper top-1 81.5%" in out
