"""SIGTERM and Ctrl-C stop a command like an error does: its temporary files go, no traceback.

Each test runs ``effnet`` in a child process with a private TMPDIR, waits (polling, bounded)
until the command is writing (its staged ``.tmp`` beside the output, or its scratch folder in the
temp folder), signals it, and checks the exit code (128 + the signal), the last line, and that
neither the output folder nor the temp folder holds anything the command left behind.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from effnet.registry import get_spec
from effnet.scaling import scale

#: The child takes Ctrl-C as a terminal gives it, whatever the test runner's own SIGINT is.
CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from effnet.cli import main; sys.exit(main())"
)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def start(argv, scratch):
    # torch keeps its compile cache in the temp folder by design; elsewhere, TMPDIR holds only
    # what the command itself made.
    cache = scratch.parent / "torchinductor"
    env = {**os.environ, "TMPDIR": str(scratch), "TORCHINDUCTOR_CACHE_DIR": str(cache),
           "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(child, ready):
    """Poll until ``ready()`` is true; fail (and stop the child) if it exits or time runs out."""
    deadline = time.monotonic() + TIMEOUT_S
    while not ready():
        if child.poll() is not None:
            pytest.fail(f"exited {child.returncode} before the signal: {child.stderr.read()}")
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            pytest.fail("the command never started writing")
        time.sleep(0.02)


def stopped_cleanly(child, signum, name):
    child.send_signal(signum)
    try:
        _, err = child.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("the command did not stop after the signal")
    assert child.returncode == 128 + signum, err
    assert "Traceback" not in err, err
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    assert err.strip().splitlines()[-1] == f"effnet {name}: {word}", err


def entries(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)  # a fast pass sends each signal once: SIGTERM here, SIGINT to quantize
def test_export_stopped_mid_write_leaves_no_temporary_file(signum, tmp_path):
    out_dir, scratch = tmp_path / "out", tmp_path / "scratch"
    out_dir.mkdir()
    scratch.mkdir()
    (out_dir / "b0.onnx").write_bytes(b"the previous export")
    argv = ["export", "--model", "efficientnet_b0", "--resolution", "32", "--exporter", "legacy",
            "--out", str(out_dir / "b0.onnx"), "--overwrite"]  # fmt: skip
    child = start(argv, scratch)
    wait_for(child, lambda: any(name.endswith(".tmp") for name in entries(out_dir)))
    stopped_cleanly(child, signum, "export")
    assert entries(out_dir) == ["b0.onnx"]
    assert (out_dir / "b0.onnx").read_bytes() == b"the previous export"
    assert entries(scratch) == []


@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGINT]
)
def test_quantize_stopped_leaves_nothing_in_the_temp_folder(signum, tmp_path):
    out_dir, scratch = tmp_path / "out", tmp_path / "scratch"
    out_dir.mkdir()
    scratch.mkdir()
    spec = tmp_path / "b0_32.json"  # B0 built for 32 px: calibration images come at its size
    spec.write_text(scale(get_spec("efficientnet_b0"), image_size=32).to_json())
    argv = ["quantize", "--model", str(spec), "--exporter", "legacy", "--precision", "int8",
            "--calibration", "digits", "--calibration-size", "32",
            "--out", str(out_dir / "b0_int8.onnx")]  # fmt: skip
    child = start(argv, scratch)
    wait_for(child, lambda: scratch_files(scratch) != [])  # the quantization's scratch folder
    stopped_cleanly(child, signum, "quantize")
    assert entries(out_dir) == []
    assert scratch_files(scratch) == []


def scratch_files(scratch):
    """What the command made in the temp folder: onnxruntime's session id (``.ses``), written as
    it is imported and kept on purpose, is the engine's, not a temporary file."""
    return [name for name in entries(scratch) if name != ".ses"]


@pytest.mark.parametrize(
    "wrapped",
    [lambda: RuntimeError("unexpected pos 640 vs 534"), lambda: ImportError("initialization")],
)
def test_a_signal_rewrapped_by_an_extension_is_still_a_stop_not_a_traceback(
    wrapped, monkeypatch, capsys
):
    from effnet.cli import Terminated, main, models

    def stopped_inside_an_extension(args):
        try:
            raise Terminated()
        except KeyboardInterrupt as err:
            raise wrapped() from err

    monkeypatch.setattr(models, "run", stopped_inside_an_extension)
    assert main(["models"]) == 143
    assert capsys.readouterr().err == "effnet models: terminated\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # main gave SIGTERM back
