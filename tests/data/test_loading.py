"""An image folder with a truncated JPEG and a text file named .png trains to the end."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from effnet.cli import main
from effnet.data.datasets import build_datasets
from effnet.data.loading import Skipped, SkipWarner, collate_skipping
from effnet.weights.checkpoint import load_model
from tests.data.test_images import png_header

PHOTOS = {"cat": skdata.chelsea, "coffee": skdata.coffee}


def make_folder(root, per_class=7):
    """Real photos, cropped at random places: ``root/{train,val}/{cat,coffee}/*``."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", 3)):
        for name, load in PHOTOS.items():
            photo = load()
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                y, x = rng.integers(0, 100, size=2)
                crop = Image.fromarray(photo[y : y + 200, x : x + 200]).resize((48, 48))
                crop.save(folder / f"{i}.{'jpg' if i % 2 else 'png'}")
    buffer = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buffer, format="JPEG")
    truncated = root / "train" / "cat" / "broken.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    text = root / "train" / "coffee" / "notes.png"
    text.write_text("these are not the pixels you are looking for\n")
    return truncated, text


@pytest.fixture
def folder(tmp_path):
    truncated, text = make_folder(tmp_path / "data")
    return tmp_path / "data", truncated, text


def test_unreadable_files_become_skipped_samples(folder):
    root, truncated, text = folder
    data = build_datasets("imagefolder", str(root), 32, minival_size=0)
    assert data.class_names == ["cat", "coffee"]
    assert len(data.train) == 16 and len(data.test) == 6
    skipped = [s for s in (data.train[i] for i in range(16)) if isinstance(s, Skipped)]
    assert sorted(s.source for s in skipped) == sorted([str(truncated), str(text)])
    assert any("truncated" in s.reason for s in skipped)


def test_collate_keeps_readable_samples_and_returns_the_skipped(folder):
    root, truncated, text = folder
    data = build_datasets("imagefolder", str(root), 32, minival_size=0)
    images, labels, skipped = collate_skipping([data.train[i] for i in range(16)])
    assert images.shape == (14, 3, 32, 32) and labels.tolist().count(0) == 7
    assert sorted(s.source for s in skipped) == sorted([str(truncated), str(text)])
    none, empty, only = collate_skipping(list(skipped))
    assert none is None and empty.numel() == 0 and len(only) == 2


def test_skip_warner_warns_once_per_file_naming_it(folder):
    _, truncated, _ = folder
    stream = io.StringIO()
    warn = SkipWarner(stream)
    skipped = Skipped(str(truncated), "OSError: image file is truncated")
    for _ in range(3):
        warn(skipped)
    lines = stream.getvalue().splitlines()
    assert lines == [f"warning: skipping unreadable image {truncated} (OSError: image file is "
                     "truncated)"]  # fmt: skip
    assert warn.warned == {str(truncated)}


def test_training_skips_both_files_reports_them_and_finishes(folder, tmp_path, capsys):
    root, truncated, text = folder
    out = tmp_path / "run"
    overrides = [
        "dataset=imagefolder", f"data_dir={root}", "image_size=32", "batch_size=8",
        "minival_size=0", "epochs=2", "warmup_epochs=0", "ema_decay=0", "autoaugment=imagenet",
        "crop_scale_min=0.08", "hflip=true", "eval_crop_pct=0.875", "num_workers=2",
        "log_every=1", f"output_dir={out}",
    ]  # fmt: skip
    assert main(["train", "--config", "configs/b0_digits.py", "--override", *overrides]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "skipping unreadable image" in line]
    assert len(warnings) == 2  # one warning per file, naming it
    assert any(str(truncated) in line for line in warnings)
    assert any(str(text) in line for line in warnings)
    # Both files come round every epoch (16 images, 2 steps of 8): counted at each epoch's end.
    assert captured.err.count("skipped 2 unreadable images") == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_images"] == 4 and summary["steps"] == 4
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    skipped = [r for r in records if r["kind"] == "skipped"]
    assert [r["files"] for r in skipped] == [sorted([str(truncated), str(text)])] * 2
    assert "done:" in captured.out and "skipped 4 unreadable images" in captured.out
    model, meta = load_model(out / "model.safetensors")
    assert model.num_classes == 2
    assert meta["class_names"] == ["cat", "coffee"] and meta["preprocess"].resolution == 32


def test_a_decompression_bomb_in_training_data_is_a_skipped_sample_naming_it(folder):
    root, _, _ = folder
    bomb = png_header(root / "train" / "cat" / "zz_bomb.png", 100_000, 100_000)
    data = build_datasets("imagefolder", str(root), 32, minival_size=0)
    skipped = [s for s in (data.train[i] for i in range(len(data.train))) if isinstance(s, Skipped)]
    (found,) = [s for s in skipped if s.source == str(bomb)]
    assert "too large to decode safely" in found.reason


def test_workers_start_from_a_clean_server_once_an_inference_engine_is_loaded(monkeypatch):
    import sys
    import types

    from effnet.data.loading import worker_context

    monkeypatch.delitem(sys.modules, "openvino", raising=False)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    assert worker_context(0) is None and worker_context(2) is None  # fork: the fastest start
    monkeypatch.setitem(sys.modules, "openvino", types.ModuleType("openvino"))
    assert worker_context(2) == ("forkserver" if sys.platform == "linux" else None)
    assert worker_context(0) is None  # no workers, nothing to start
