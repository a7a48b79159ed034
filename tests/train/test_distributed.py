"""torchrun with two CPU processes (gloo): identical weights on both ranks, files from rank 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
