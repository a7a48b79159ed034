"""The run's log: fresh or truncated on resume, windowed train records, and the curves PNG."""

import json
import math

import pytest

from effnet.train import logs
from effnet.train.logs import RunLogger, Window, plot_curves


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_fresh_run_starts_an_empty_log(tmp_path):
    (tmp_path / "log.jsonl").write_text('{"kind": "train", "step": 1}\n')
    logger = RunLogger(tmp_path)
    logger.log("train", 1, loss=2.0, note="text")
    logger.close()
    expected = [{"kind": "train", "step": 1, "loss": 2.0, "note": "text"}]
    assert lines(tmp_path / "log.jsonl") == expected
    assert logger.read() == lines(tmp_path / "log.jsonl")


def test_resume_drops_records_after_the_checkpoint_and_a_torn_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    records = [{"kind": "train", "step": s, "loss": 1.0 / s} for s in range(1, 6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"kind": "tra')
    logger = RunLogger(tmp_path, resume_step=3)
    assert [r["step"] for r in lines(path)] == [1, 2, 3]
    logger.log("train", 4, loss=0.5)  # the resumed run writes step 4 again
    logger.close()
    assert [r["step"] for r in lines(path)] == [1, 2, 3, 4]
    assert lines(path)[-1]["loss"] == 0.5


def test_a_disabled_logger_writes_nothing(tmp_path):
    out = tmp_path / "rank1"
    logger = RunLogger(out, enabled=False)
    logger.log("train", 1, loss=1.0)
    logger.close()
    assert not out.exists()
    assert logger.read() == []


def test_window_averages_per_image_and_counts_every_ranks_images(monkeypatch):
    window = Window(start=100.0)
    window.add(1.0, 2, world_size=4)  # a micro-batch of 2 images at mean loss 1
    window.add(4.0, 1, world_size=4)
    monkeypatch.setattr(logs.time, "time", lambda: 102.0)
    record = window.record(epoch=1.5, lr=0.01)
    assert record == {"epoch": 1.5, "loss": pytest.approx(2.0), "lr": 0.01, "img_per_s": 6.0}
    assert Window().record(0.0, 0.0)["loss"] == 0.0  # nothing seen yet: no division by zero


def test_plot_curves_writes_a_png(tmp_path):
    records = [
        {"kind": "train", "step": 1, "loss": 2.0},
        {"kind": "train", "step": 2, "loss": 1.0},
        {"kind": "eval", "step": 2, "epoch": 1, "val_acc": 0.5, "val_loss": 1.5},
        {"kind": "eval", "step": 4, "epoch": 2, "val_acc": 0.75, "val_loss": 1.0},
    ]
    path = plot_curves(records, tmp_path / "sub" / "curves.png", "efficientnet_b0")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


def test_a_lone_point_is_drawn_as_a_marker_and_an_empty_panel_stays_empty(tmp_path, monkeypatch):
    """One logged step (a short fine-tune): the point shows as a marker, not an empty line."""
    from matplotlib.figure import Figure

    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: figures.append(fig))
    plot_curves([{"kind": "train", "step": 3, "epoch": 0.5, "loss": 2.0}], tmp_path / "c.png")
    (line,) = figures[0].axes[0].lines
    assert line.get_marker() == "o" and list(line.get_xdata()) == [0.5]
    assert all(len(ax.lines) == 0 for ax in figures[0].axes[1:])  # no evaluation: nothing drawn


def test_nan_and_infinity_are_logged_as_null_and_every_line_is_strict_json(tmp_path):
    logger = RunLogger(tmp_path)
    logger.log("eval", 4, val_loss=float("nan"), train_loss=float("inf"), history=[1.0, -math.inf])
    logger.close()
    text = (tmp_path / "log.jsonl").read_text()
    record = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in the log"))
    assert record == {"kind": "eval", "step": 4, "val_loss": None, "train_loss": None,
                      "history": [1.0, None]}  # fmt: skip
    (tmp_path / "log.jsonl").write_text(text + '{"kind": "train", "st')  # a kill mid-line
    assert logger.read() == [record]
