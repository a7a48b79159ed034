"""``effnet bench``: the paper's Table 4 protocol end to end, throughput JSON, peak memory, errors.

Issue 7, acceptance 3: ``effnet bench --table4 --runs 2`` runs end to end and prints the ratio line.
Paper figures are from docs/paper.md: section 6 (Table 4: ResNet-152 0.554 s vs B1 0.098 s, 5.7x
on one Xeon core) and section 1 (Table 2: parameters in millions and resolution of B0..B7).
"""

import json
import re

import pytest

from effnet.cli import main
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import engine_precisions

#: docs/paper.md section 1 (Table 2): params (M) and resolution per variant.
PAPER_TABLE2 = {
    "B0": (5.3, 224),
    "B1": (7.8, 240),
    "B2": (9.2, 260),
    "B3": (12, 300),
    "B4": (19, 380),
    "B5": (30, 456),
    "B6": (43, 528),
    "B7": (66, 600),
}
ROW = re.compile(
    r"^(EfficientNet-B\d|ResNet-\d+ \(torchvision\))\s+([\d,]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)"
    r"\s+(\S+)$",
    re.M,
)


def bench(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["bench", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table4_runs_end_to_end_and_prints_the_ratio_line(capsys):
    code, out, _ = bench(capsys, "--table4", "--runs", "2")
    assert code == 0
    assert "Table 4 protocol: batch 1, 1 thread(s), 2 runs after warm-up" in out
    rows = {m[0]: m[1:] for m in ROW.findall(out)}
    expected = [f"EfficientNet-B{i}" for i in range(8)]
    expected += ["ResNet-50 (torchvision)", "ResNet-152 (torchvision)"]
    assert list(rows) == expected

    latency = {name: float(row[2]) for name, row in rows.items()}
    assert all(s > 0 for s in latency.values())
    assert all(float(row[3]) >= 0 for row in rows.values())  # std
    assert latency["EfficientNet-B7"] > latency["EfficientNet-B0"]
    assert latency["ResNet-152 (torchvision)"] > latency["ResNet-50 (torchvision)"]
    for variant, (params_m, resolution) in PAPER_TABLE2.items():
        params, res = rows[f"EfficientNet-{variant}"][:2]
        assert int(res) == resolution
        assert int(params.replace(",", "")) / 1e6 == pytest.approx(params_m, rel=0.05)
    # The paper's own latencies sit beside the two rows it reports.
    assert rows["EfficientNet-B1"][4] == "0.098"
    assert rows["ResNet-152 (torchvision)"][4] == "0.554"

    ratio = re.search(
        r"^ResNet-152 / EfficientNet-B1 latency: ([\d.]+)x here \(paper Table 4: 5\.7x", out, re.M
    )
    assert ratio, out
    measured = latency["ResNet-152 (torchvision)"] / latency["EfficientNet-B1"]
    assert float(ratio[1]) == pytest.approx(measured, rel=0.01)
    assert "GPipe" in out  # says why the second Table 4 pair is not measured


def test_table4_subset_json_has_no_ratio_without_both_models(capsys, tmp_path):
    path = tmp_path / "t4.json"
    code, out, _ = bench(
        capsys, "--table4", "--models", "b0", "resnet50", "--runs", "2", "--warmup", "1",
        "--resolution", "32", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    assert "latency: n/a" in out and "5.7x" in out
    data = json.loads(path.read_text())
    assert data["protocol"] == "table4" and data["paper_ratio"] == 5.7
    assert data["ratio_resnet152_over_b1"] is None
    names = [r["model"] for r in data["results"]]
    assert names == ["efficientnet_b0", "torchvision:resnet50"]
    for r in data["results"]:
        assert (r["batch_size"], r["threads"], r["resolution"]) == (1, 1, 32)
        assert len(r["times_s"]) == 2 and r["mean_s"] > 0


def test_throughput_mode_writes_json_a_user_can_read(capsys, tmp_path):
    path = tmp_path / "b0.json"
    code, out, _ = bench(
        capsys, "efficientnet_b0", "--backend", "eager", "--batch-size", "4", "--threads", "1",
        "--resolution", "64", "--runs", "3", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    assert re.search(r"^efficientnet_b0\s+eager\s+fp32\s+4\s+1\s+64\s", out, re.M), out
    data = json.loads(path.read_text())
    assert data["protocol"] == "throughput"
    (r,) = data["results"]
    assert (r["model"], r["backend"], r["batch_size"], r["threads"], r["resolution"]) == (
        "efficientnet_b0", "eager", 4, 1, 64,
    )  # fmt: skip
    assert len(r["times_s"]) == 3 and all(t > 0 for t in r["times_s"])
    assert r["mean_s"] == pytest.approx(sum(r["times_s"]) / 3)
    assert r["min_s"] == min(r["times_s"])
    assert r["images_per_s"] == pytest.approx(4 / r["mean_s"])
    # B0 has 5.3M parameters (docs/paper.md section 1, Table 2).
    assert r["params"] / 1e6 == pytest.approx(5.3, rel=0.05)
    assert r["build_memory_mb"] is None  # not asked for


def test_auto_backend_reports_what_it_measured_and_picked(capsys, tmp_path):
    path = tmp_path / "auto.json"
    code, out, _ = bench(
        capsys, "efficientnet_b0", "--batch-size", "2", "--resolution", "64", "--runs", "2",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0
    (r,) = json.loads(path.read_text())["results"]
    assert set(r["picked"]) >= {"eager fp32", "onnxruntime fp32", "openvino fp32"}
    assert f"{r['backend']} {r['precision']}" == max(r["picked"], key=r["picked"].get)
    assert r["precision"] == "fp32"  # reduced precision only when asked for
    assert f"auto picked {r['backend']} fp32 for efficientnet_b0" in out
    assert cpu_info().header() in out


def test_all_backends_side_by_side_at_every_native_precision(capsys, tmp_path):
    path = tmp_path / "all.json"
    code, out, _ = bench(
        capsys, "efficientnet_b0", "--backend", "all", "--batch-size", "2", "--resolution", "32",
        "--runs", "1", "--warmup", "0", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    rows = [(r["backend"], r["precision"]) for r in json.loads(path.read_text())["results"]]
    assert rows == [("plain", "fp32"), *engine_precisions()]
    native = set(cpu_info().precisions)
    assert {p for _, p in rows} == native and ("openvino", "fp32") in rows
    for backend, precision in rows:
        assert re.search(rf"^efficientnet_b0\s+{backend}\s+{precision}\s+2\s", out, re.M)


def test_memory_reports_positive_peaks(capsys, tmp_path):
    path = tmp_path / "mem.json"
    code, out, _ = bench(
        capsys, "efficientnet_b0", "--backend", "plain", "--batch-size", "2", "--threads", "1",
        "--resolution", "64", "--runs", "1", "--memory", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    assert "build MB" in out and "run MB" in out
    (r,) = json.loads(path.read_text())["results"]
    assert r["memory_method"] in ("VmHWM", "ru_maxrss")
    # Building B0 holds at least its float32 weights (5.3M params, docs/paper.md Table 2).
    assert r["build_memory_mb"] >= 5.3e6 * 4 / 2**20
    assert r["run_memory_mb"] > 0  # activations of a batch


@pytest.mark.parametrize(
    "argv, message",
    [
        (["efficientnet_b0", "--batch-size", "100000"], "a batch of 100000 images"),
        (["no_such_net", "--runs", "1"], "unknown model 'no_such_net'"),
        (["--table4", "--models", "b1", "no_such_net"], "unknown model 'no_such_net'"),
        (["--table4", "--backend", "all"], "--backend all is for throughput mode"),
        (["--table4", "--batch-size", "8"], "--table4 times batch 1"),
        (["--table4", "--precision", "int8"], "--table4 is the paper's fp32 protocol"),
        (["efficientnet_b0", "--resolution", "8000"], "at 8000 px makes a feature map"),
        ([], "name the models to time"),
    ],
)
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    code, out, err = bench(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("effnet bench: error: ") and message in err
