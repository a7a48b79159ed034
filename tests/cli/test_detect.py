"""``effnet detect`` draws a checkpoint's boxes; ``effnet eval`` scores a detector from the file."""

import json

from PIL import Image

from effnet.cli import main
from effnet.detection.checkpoint import load_detector
from tests.detection.trained import trained_run


def test_eval_reproduces_the_runs_own_score_from_the_checkpoint_alone(capsys):
    root = trained_run()
    weights = root / "run" / "model.safetensors"
    _, extra = load_detector(weights)
    capsys.readouterr()
    assert (
        main(["eval", str(root / "shapes" / "val"), "--weights", str(weights), "--json", "-"]) == 0
    )
    scores = json.loads(capsys.readouterr().out)
    assert abs(scores["map50"] - extra["val_map50"]) < 1e-9
    assert abs(scores["map"] - extra["val_map"]) < 1e-9 and scores["images"] == 64
    assert main(["eval", str(root / "shapes" / "test"), "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "mAP@[.5:.95]" in out and "mAP@.5" in out and "(16 images)" in out


def test_detect_writes_a_png_with_labelled_boxes(tmp_path, capsys):
    root = trained_run()
    image = root / "shapes" / "test" / "images" / "000000.png"
    out = tmp_path / "boxes.png"
    args = ["detect", str(image), "--weights", str(root / "run" / "model.safetensors"),
            "--threshold", "0.05", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"detections above 0.05: {out}" in printed
    drawn = Image.open(out)
    assert drawn.format == "PNG" and drawn.size == (512, 512)  # 64 px enlarged for the tags
    assert main(["detect", str(image), "--weights", str(image)]) == 2  # a PNG is no detector
    assert "is not an effnet detector checkpoint" in capsys.readouterr().err
