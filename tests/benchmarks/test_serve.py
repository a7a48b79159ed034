"""benchmarks/serve.py runs end to end on short settings: the offline baseline, a bounded locust
load at 1, 8 and 32 clients against a real ``effnet serve``, and both goals judged."""

import json
import subprocess
import sys
from pathlib import Path

from effnet.deploy.cpu import cpu_info

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve.py"


def test_load_levels_are_measured_beside_the_offline_fast_path(tmp_path):
    out = tmp_path / "serve.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--backend", "eager", "--seconds", "3",
         "--max-requests", "300", "--servers", "litserve", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert cpu_info().header() in run.stdout
    result = json.loads(out.read_text())
    offline = result["offline"]
    assert offline["backend"] == "eager" and offline["img_s_batch32"] > 0
    assert 0 < offline["decode_ceiling_img_s"] < offline["img_s_batch32"]
    rows = result["servers"]["litserve"]
    assert [r["clients"] for r in rows] == [1, 8, 32]
    for row in rows:
        assert row["requests"] > 0 and row["error_rate"] == 0
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert rows[0]["mean_batch"] == 1.0  # one client: nothing to batch with
    assert rows[2]["mean_batch"] > 1.0  # 32 clients: batched
    goals = result["goals"]["litserve"]
    assert goals["bound"] == 2 * offline["ms_batch1"] + 5
    assert "litserve: 32 clients" in run.stdout and "(goal: " in run.stdout
