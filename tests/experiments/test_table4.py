"""The Table 4 protocol: names, the paper's figures beside the measured ones, the ratio, and that
every model is timed at batch 1 on one thread.

Paper figures are docs/paper.md section 6 (Table 4): ResNet-152 0.554 s vs EfficientNet-B1 0.098 s,
5.7x, on one Xeon E5-2690 core. The table logic is tested on fixed times; one tiny real run checks
the wiring to :func:`effnet.speed.bench.bench`.
"""

import pytest

from effnet.experiments import table4 as t4
from effnet.registry import UnknownModelError
from effnet.speed.bench import BenchResult


def result(model: str, times: list[float], params: int = 1000, resolution: int = 224):
    return BenchResult(model, "plain", 1, 1, resolution, params, times)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("b1", "efficientnet_b1"),
        ("B7", "efficientnet_b7"),
        ("efficientnet_b1", "efficientnet_b1"),
        ("resnet152", "torchvision:resnet152"),
        ("ResNet50", "torchvision:resnet50"),
        ("mobilenet_v2", "mobilenet_v2"),
    ],
)
def test_short_names_resolve_to_what_table4_times(given, expected):
    assert t4.table4_name(given) == expected


@pytest.mark.parametrize(
    "name, shown",
    [
        ("efficientnet_b1", "EfficientNet-B1"),
        ("torchvision:resnet152", "ResNet-152 (torchvision)"),
        ("mobilenet_v2", "mobilenet_v2"),
    ],
)
def test_display_names_follow_the_paper(name, shown):
    assert t4.display_name(name) == shown


def test_the_paper_figures_are_those_of_table4():
    assert t4.PAPER_RATIO == 5.7
    assert t4.PAPER_LATENCY_S["efficientnet_b1"] == 0.098
    assert t4.PAPER_LATENCY_S["torchvision:resnet152"] == 0.554
    assert len(t4.TABLE4_MODELS) == 10  # B0..B7 and the two ResNets
    assert "GPipe" in t4.PAPER_GPIPE_NOTE


def test_ratio_is_resnet152_over_b1_and_printed_beside_the_papers():
    table = t4.Table4(
        [
            result("efficientnet_b1", [0.1, 0.3], params=7_794_184, resolution=240),
            result("torchvision:resnet152", [1.0, 1.0], params=60_192_808),
        ]
    )
    assert table.latency("efficientnet_b1") == pytest.approx(0.2)
    assert table.latency("efficientnet_b0") is None
    assert table.ratio == pytest.approx(5.0)
    text = table.format()
    lines = text.splitlines()
    assert lines[0] == "Table 4 protocol: batch 1, 1 thread(s), 2 runs after warm-up, backend plain"
    assert lines[3].split() == ["EfficientNet-B1", "7,794,184", "240", "0.2000", "0.1414", "0.098"]
    assert lines[4].startswith("ResNet-152 (torchvision)")
    assert lines[4].split()[-3:] == ["1.0000", "0.0000", "0.554"]
    assert lines[5] == (
        "ResNet-152 / EfficientNet-B1 latency: 5.00x here (paper Table 4: 5.7x, 0.554 s vs "
        "0.098 s on one Xeon E5-2690 core)"
    )
    assert lines[6] == t4.PAPER_GPIPE_NOTE
    data = table.to_dict()
    assert data["protocol"] == "table4" and data["paper_ratio"] == 5.7
    assert data["ratio_resnet152_over_b1"] == pytest.approx(5.0)
    assert [r["model"] for r in data["results"]] == ["efficientnet_b1", "torchvision:resnet152"]


def test_without_both_models_there_is_no_ratio():
    table = t4.Table4([result("efficientnet_b0", [0.01]), result("mobilenet_v2", [0.02])])
    assert table.ratio is None and table.to_dict()["ratio_resnet152_over_b1"] is None
    assert "latency: n/a" in table.ratio_line()
    # A model the paper has no latency for gets "-" in the paper column.
    assert table.format().splitlines()[4].split()[-1] == "-"


def test_table4_times_batch_1_on_the_given_threads(monkeypatch):
    calls = []

    def fake_bench(name, backend, batch_size, threads, resolution, runs, warmup, memory):
        calls.append((name, backend, batch_size, threads, resolution, runs, warmup, memory))
        return result(name, [0.1])

    monkeypatch.setattr(t4, "bench", fake_bench)
    table = t4.table4(["b1", "resnet152"], runs=3, warmup=1, resolution=64)
    assert calls == [
        ("efficientnet_b1", "plain", 1, 1, 64, 3, 1, False),
        ("torchvision:resnet152", "plain", 1, 1, 64, 3, 1, False),
    ]
    assert table.ratio == pytest.approx(1.0)
    calls.clear()
    t4.table4(runs=1)
    assert [c[0] for c in calls] == list(t4.TABLE4_MODELS)  # the full table by default


def test_unknown_names_fail_before_any_timing(monkeypatch):
    monkeypatch.setattr(t4, "bench", lambda *a: pytest.fail("timed before checking names"))
    with pytest.raises(UnknownModelError, match="no_such_net"):
        t4.table4(["b1", "no_such_net"])


def test_a_tiny_real_run_reports_the_runs_it_made():
    table = t4.table4(["b0"], runs=2, warmup=1, resolution=32)
    (r,) = table.results
    assert (r.model, r.batch_size, r.threads, r.resolution) == ("efficientnet_b0", 1, 1, 32)
    assert len(r.times_s) == 2 and r.mean_s > 0
