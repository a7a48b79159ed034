"""torchrun with two CPU processes (gloo): identical weights on both ranks, files from rank 0;
and the same helpers in a world of one, where they must cost nothing and change nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from effnet.train import distributed

ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes_gloo(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "effnet.cli", "train", "--config", str(ROOT / "configs/b0_digits.py"), "--override",
        "device=cpu", "image_size=32", "batch_size=16", "limit_train_images=64", "epochs=2",
        "warmup_epochs=0", "log_every=1", "num_workers=0", f"output_dir={out}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # effnet's own DDP set-up warns about nothing (no broadcast_buffers FutureWarning, no
    # size-1-dimension grad-strides UserWarning on every run).
    assert "Warning" not in result.stderr, result.stderr[-3000:]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    # 64 images, global batch 16 = 8 per rank: 4 steps per epoch.
    assert summary["steps"] == 8
    fingerprints = summary["rank_weight_sha256"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]

    # Only rank 0 wrote: one summary line, one record per step, one TensorBoard file, no strays.
    assert result.stdout.count("done:") == 1
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 9))
    assert len(list((out / "tensorboard").iterdir())) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "best.safetensors", "config.json", "curves.png", "last.pt", "log.jsonl",
        "model.safetensors", "summary.json", "tensorboard",
    ]  # fmt: skip


def test_a_plain_process_is_rank_0_of_a_world_of_one(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    d = distributed.setup("cpu")
    assert (d.rank, d.world_size, d.is_main, d.enabled, d.owns_group) == (0, 1, True, False, False)
    assert distributed.all_reduce_sum(d, [1.5, 2.0]) == [1.5, 2.0]
    assert distributed.all_agree(d, False) is False and distributed.all_agree(d, True) is True
    assert distributed.gather_objects(d, {"a": 1}) == [{"a": 1}]
    assert distributed.broadcast_object(d, "x") == "x"
    distributed.teardown(d)  # nothing to tear down, and no error


def test_weights_fingerprint_sees_every_byte_and_every_name():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert distributed.weights_fingerprint(a) == distributed.weights_fingerprint(b)
    with torch.no_grad():
        b.bias[0] = torch.nextafter(b.bias[0], torch.tensor(1.0))  # one ulp
    assert distributed.weights_fingerprint(a) != distributed.weights_fingerprint(b)


def test_only_the_spurious_grad_strides_warning_is_matched():
    import re

    spurious = (
        "Grad strides do not match bucket view strides. This may indicate ...\n"
        "grad.sizes() = [672, 1, 5, 5], strides() = [25, 1, 5, 1]\n"
        "bucket_view.sizes() = [672, 1, 5, 5], strides() = [25, 25, 5, 1]"
    )
    real = spurious.replace("[672, 1, 5, 5]", "[672, 32, 5, 5]")
    pattern = re.compile(distributed.GRAD_STRIDES_SIZE_1, re.I)
    assert pattern.match(spurious) and not pattern.match(real)
