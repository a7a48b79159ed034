"""benchmarks/predict_stream.py runs end to end on tiny settings: the model alone and the streamed
runs are timed, each ratio is judged against the goal, and every run wrote the same answers."""

import json
import runpy
from pathlib import Path

from effnet.deploy.cpu import cpu_info
from effnet.use.predict_stream import default_workers

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "predict_stream.py"


def test_streamed_runs_are_timed_beside_the_model_alone(capsys, tmp_path):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    report = main(["--images", "64", "--first", "32", "--batch", "16", "--offline-images", "32",
                   "--backend", "eager", "--workers", "0", "--no-ray",
                   "--json", str(tmp_path / "r.json")])  # fmt: skip
    assert report["same_answers"] and report["ray"] is None
    assert len(report["offline_rounds"]) == 2 and report["offline_img_per_s"] > 0
    rows = report["one_process"]
    assert set(rows) == {f"workers={default_workers()}", "workers=0"}
    for row in rows.values():
        assert row["img_per_s"] > 0 and row["marginal_img_per_s"] > 0
        assert row["ratio"] == round(row["img_per_s"] / report["offline_img_per_s"], 3)
        assert set(row["seconds"]) == {"32", "64"}
    first, *others, same = report["lines"]
    assert first.startswith("(a) offline, preprocessed batches of 16: ")
    assert all("(goal >= 0.8x: " in line for line in others) and len(others) == len(rows)
    assert same == "every run wrote the same answers: True"
    assert json.loads((tmp_path / "r.json").read_text())["lines"] == report["lines"]
    assert cpu_info().header() in capsys.readouterr().out
