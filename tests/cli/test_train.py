"""``effnet train``: the config and its overrides reach the engine; bad input is one line."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.cli import main
from effnet.registry import get_spec
from effnet.train.checkpoint import load_state
from effnet.train.distributed import weights_fingerprint
from effnet.train.rundir import LOCK_NAME
from effnet.weights.checkpoint import load_model

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "b0_digits.py")


def test_config_overrides_and_resume_reach_the_engine(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "effnet.train.train", lambda cfg, resume=False, **_: calls.append((cfg, resume))
    )
    assert main(["train", "--config", CONFIG, "--override", "epochs=2", "dropout=none"]) == 0
    assert main(["train", "--config", CONFIG, "--resume"]) == 0
    (first, first_resume), (second, second_resume) = calls
    assert (first.epochs, first.dropout, first_resume) == (2, None, False)
    assert (second.epochs, second_resume) == (12, True)  # the file's own value
    assert first.dataset == "digits" and first.image_size == 24


def test_the_config_file_runs_once_whichever_kind_of_config_it_holds(monkeypatch, tmp_path):
    # A config file may print, count or load data: `effnet train` used to run it once to ask
    # whether it is a detection config and again for the training config.
    log = tmp_path / "ran.txt"
    config = tmp_path / "counting.py"
    config.write_text(
        "from effnet.train import TrainConfig\n"
        f"LOG = {str(log)!r}\n"
        "open(LOG, 'a').write('file\\n')\n"
        "def get_config():\n"
        "    open(LOG, 'a').write('get_config\\n')\n"
        "    return TrainConfig(dataset='digits', epochs=1)\n"
    )
    calls = []
    monkeypatch.setattr("effnet.train.train", lambda cfg, **_: calls.append(cfg))
    assert main(["train", "--config", str(config), "--override", "epochs=2"]) == 0
    assert log.read_text().split() == ["file", "get_config"]
    assert [c.epochs for c in calls] == [2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "no_such_config"], "config 'no_such_config' not found"),
        (["--config", CONFIG, "--override", "epoch=3"], "Did you mean 'schedule.epochs'"),
        (
            ["--config", CONFIG, "--override", "schedule.epochs=three"],
            "epochs='three': expected int",
        ),
        (["--config", CONFIG, "--override", "schedule.epochs=0"], "epochs must be >= 1"),
    ],
)
def test_bad_configs_are_one_line_and_exit_2(capsys, args, message):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_overrides_that_change_the_recipe_get_their_own_run_folder(monkeypatch, capsys, tmp_path):
    """The README's `--override epochs=5 image_size=32` must not land on runs/b0_digits."""
    calls = []
    monkeypatch.setattr("effnet.train.train", lambda cfg, **kw: calls.append((cfg, kw)))
    overrides = ["--override", "epochs=5", "image_size=32", "num_workers=0"]
    assert main(["train", "--config", CONFIG, *overrides]) == 0
    assert calls[-1][0].output_dir == "runs/b0_digits-epochs5-image_size32"
    assert (
        "writes to runs/b0_digits-epochs5-image_size32, not the config's" in capsys.readouterr().out
    )
    assert main(["train", "--config", CONFIG, *overrides, "--resume"]) == 0  # the same folder
    assert calls[-1][0].output_dir == calls[0][0].output_dir and calls[-1][1]["resume"]
    for neutral in (["num_workers=0"], ["output_dir=runs/mine", "epochs=3"]):
        assert main(["train", "--config", CONFIG, "--override", *neutral]) == 0
    assert [c.output_dir for c, _ in calls[-2:]] == ["runs/b0_digits", "runs/mine"]


def test_a_detection_configs_overrides_get_their_own_run_folder_too(monkeypatch, capsys):
    """Detection configs follow the same rule: `--override epochs=3` must not land on (and then
    refuse, or resume) the config's own runs/d0_shapes."""
    calls = []
    monkeypatch.setattr("effnet.train.train", lambda cfg, **kw: calls.append((cfg, kw)))
    detection = "configs/d0_shapes.py"
    assert main(["train", "--config", detection, "--override", "epochs=3", "num_workers=0"]) == 0
    assert calls[-1][0].output_dir == "runs/d0_shapes-epochs3" and calls[-1][0].epochs == 3
    assert "writes to runs/d0_shapes-epochs3, not the config's" in capsys.readouterr().out
    assert main(["train", "--config", detection, "--override", "device=cpu"]) == 0
    assert calls[-1][0].output_dir == "runs/d0_shapes"


def test_a_scaled_spec_trained_at_the_configs_resolution_is_announced(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.setattr("effnet.train.train", lambda cfg, **kw: None)
    spec = tmp_path / "b0_1.8g.json"
    assert main(["scale", "--base", "efficientnet_b0", "--phi", "1", "--out", str(spec)]) == 0
    capsys.readouterr()
    assert main(["train", "--config", CONFIG, "--override", f"model={spec}"]) == 0
    out = capsys.readouterr().out
    size = get_spec(spec).resolution
    assert size > 200 and f"{spec} was scaled for {size}px; this config trains it at 24px" in out
    assert f"--override data.image_size={size}" in out


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """``{cat,coffee}/``: 4 crops of scikit-image's photos each, 32 px (2 steps of 4 an epoch)."""
    root = tmp_path_factory.mktemp("photos")
    for name, photo in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        (root / name).mkdir()
        for i in range(4):
            crop = photo[20 * i : 20 * i + 250, 30 * i : 30 * i + 250]
            Image.fromarray(crop).resize((32, 32)).save(root / name / f"{i}.png")
    return root


def train_argv(data, out, *extra, overrides=()):
    """The smallest real run: 8 images, no minival, no test split, a checkpoint every step;
    ``overrides`` replace those settings."""
    tiny = [
        "dataset=imagefolder", f"data_dir={data}", "minival_size=0", "image_size=32",
        "batch_size=4", "epochs=1", "warmup_epochs=0", "autoaugment=none", "log_every=1",
        "num_workers=0", "device=cpu", "save_every_steps=1",
    ]  # fmt: skip
    given = {item.partition("=")[0] for item in overrides}  # a key may be given once
    tiny = [item for item in tiny if item.partition("=")[0] not in given]
    return [
        "train", "--config", CONFIG, *extra, "--override", *tiny, *overrides, f"output_dir={out}"
    ]  # fmt: skip


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def one_error_line(capsys, code, *fragments):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    last = err.splitlines()[-1]
    assert "Traceback" not in err and last.startswith("effnet train: error: "), err
    for fragment in fragments:
        assert fragment in last, last
    return last


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_two_concurrent_trainings_into_one_folder(photos, tmp_path, capsys, monkeypatch):
    """The second refuses at once; the first's files are its own and its summary is true."""
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "effnet.cli", *train_argv(photos, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    )
    try:
        deadline = time.time() + 300
        while not (out / LOCK_NAME).exists():  # the first run holds the folder from its start
            assert first.poll() is None and time.time() < deadline, first.stderr.read()
            time.sleep(0.05)
        code = main(train_argv(photos, out))
        one_error_line(capsys, code, f"{out} is in use by another training run (pid {first.pid} ")
        stdout, stderr = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    train_steps = [
        r["step"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    ]  # fmt: skip
    assert train_steps == list(range(1, summary["steps"] + 1))  # one run's log, not two
    model, meta = load_model(out / "model.safetensors")
    assert summary["rank_weight_sha256"][0].endswith("+ema:" + weights_fingerprint(model))
    assert meta["extra"]["steps"] == summary["steps"] == 2
    assert f"wrote {out}/model.safetensors" in stdout

    # A fresh start over the finished run is refused, and changes nothing.
    before = snapshot(out)
    code = main(train_argv(photos, out))
    one_error_line(capsys, code, "already holds a run", "--resume", "--overwrite")
    assert snapshot(out) == before

    # The same run, moved and named by a relative path, is still the run to resume.
    (tmp_path / "moved").mkdir()
    out.rename(tmp_path / "moved" / "run")
    monkeypatch.chdir(tmp_path)
    assert main(train_argv(photos, Path("moved") / "run", "--resume")) == 0
    assert "resuming moved/run at epoch 1, step 2/2" in capsys.readouterr().out


def test_a_run_that_diverges_stops_keeping_its_last_good_state(photos, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(train_argv(photos, out, overrides=["lr_per_256=1e38", "epochs=3"]))
    # The weights hold inf before the next loss is computed: the check before a save sees it.
    line = one_error_line(capsys, code, "training diverged: the weights hold NaN or infinite")
    assert f"{out}/last.pt keeps the last good state" in line
    saved_step = load_state(out / "last.pt")["progress"]["step"]
    assert f"after step {saved_step + 1}, " in line  # the step after the last one saved
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]  # strict JSON
    # After the last save only the diverging step's own loss (taken before its update) is logged.
    assert records and all(r["step"] <= saved_step or r["kind"] == "train" for r in records)
    assert max(r["step"] for r in records) == saved_step + 1
    assert not (out / "model.safetensors").exists() and not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"\x80\x04 garbage"])
def test_a_damaged_last_pt_is_one_line_on_resume(photos, tmp_path, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(content)
    code = main(train_argv(photos, out, "--resume"))
    one_error_line(capsys, code, f"cannot resume from {out}/last.pt: it is damaged", "--overwrite")
    assert (out / "last.pt").read_bytes() == content


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match=r"Did you mean 'schedule\.epochs'"):
        main(["train", "--config", CONFIG, "--override", "epoch=3", "--debug"])


def test_a_one_step_run_at_lr_1e9_exits_2_and_writes_no_weights(photos, tmp_path, capsys):
    """Its only update leaves weights of ~1e7: finite, but every prediction is NaN. The loss of
    that step was computed before the update, so only checking the weights' outputs sees it."""
    out = tmp_path / "run"
    code = main(train_argv(photos, out, overrides=["lr_per_256=1e9", "max_steps=1"]))
    line = one_error_line(
        capsys, code, "training diverged: the weights predict NaN", "after step 1, epoch 1"
    )
    assert "(lr 1.56e+07" in line and "lower lr_per_256" in line
    assert "no checkpoint was saved before it" in line
    written = {p.name for p in out.iterdir()}
    assert not written & {"best.safetensors", "model.safetensors", "last.pt", "summary.json"}


def test_a_run_diverging_in_its_second_epoch_keeps_its_finite_state(photos, tmp_path, capsys):
    """Warm-up makes the first step's lr 0 (a good epoch, saved); the second step diverges. The
    last.pt and best.safetensors of the first epoch stay, and the best weights predict numbers."""
    out = tmp_path / "run"
    two_epochs = ["lr_per_256=1e9", "warmup_epochs=1", "epochs=2", "minival_size=2", "batch_size=6"]
    code = main(train_argv(photos, out, overrides=two_epochs))
    line = one_error_line(capsys, code, "the weights predict NaN or infinite scores on the minival")
    # That step's lr: 1e9 * 6 / 256 = 2.34e7, decayed once by the config's x0.85 an epoch.
    assert "after step 2, epoch 2 (lr 1.99e+07;" in line
    assert f"{out}/last.pt keeps the last good state" in line
    assert load_state(out / "last.pt")["progress"]["step"] == 1
    model, _ = load_model(out / "best.safetensors")
    image = torch.from_numpy(np.asarray(Image.open(next(photos.glob("cat/*.png"))), np.float32))
    logits = model.eval()(image.permute(2, 0, 1)[None] / 255)
    assert torch.isfinite(logits).all()
    assert not (out / "model.safetensors").exists() and not (out / "summary.json").exists()


def test_resume_after_a_class_folder_was_renamed_is_refused(photos, tmp_path, capsys):
    """``cat`` renamed ``kitten`` sorts after ``coffee``: resuming would swap the two labels."""
    data = tmp_path / "photos"
    shutil.copytree(photos, data)
    out = tmp_path / "run"
    assert main(train_argv(data, out, overrides=["max_steps=1"])) == 0
    capsys.readouterr()
    before = snapshot(out)
    (data / "cat").rename(data / "kitten")
    code = main(train_argv(data, out, "--resume", overrides=["max_steps=1"]))
    one_error_line(
        capsys, code, f"cannot resume from {out}/last.pt", "class 'cat' was renamed to 'kitten'"
    )
    assert snapshot(out) == before
