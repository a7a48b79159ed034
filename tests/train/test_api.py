"""``train`` is the one entry point: it runs the loop, and importing it costs no torch."""

import subprocess
import sys

import effnet.train
from effnet.train import TrainConfig, TrainResult, api, loop, result


def test_train_runs_the_loop_with_the_resume_and_overwrite_flags(monkeypatch, tmp_path):
    calls = []

    def fake_run(cfg, resume=False, overwrite=False):
        calls.append((cfg, resume, overwrite))
        return TrainResult(0.5, 0.25, tmp_path / "a", tmp_path / "b")

    monkeypatch.setattr(loop, "run", fake_run)
    cfg = TrainConfig(output_dir=str(tmp_path))
    out = effnet.train.train(cfg, resume=True)
    effnet.train.train(cfg, overwrite=True)
    assert calls == [(cfg, True, False), (cfg, False, True)]
    assert out.test_acc == 0.25


def test_train_result_is_one_class_wherever_it_is_imported_from():
    assert effnet.train.TrainResult is api.TrainResult is result.TrainResult


def test_importing_the_package_does_not_import_torch():
    # Every config file imports effnet.train; the CLI parses them before it needs torch.
    code = "import sys, effnet.train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
