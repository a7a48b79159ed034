"""A run folder belongs to one run: locked while it trains (a dead holder's lock is stale), no
fresh start over a run without --overwrite, and never over the run's own starting weights."""

import json
import subprocess
import sys

import pytest

from effnet.train.rundir import (
    LOCK_NAME,
    RunFolderBusyError,
    RunFolderTakenError,
    acquire,
    claim,
)

# Another run's process, as acquire() leaves it: the lock file flocked, naming its pid and host
# (spelled out so the process starts in milliseconds, without importing torch).
HOLD = (
    "import fcntl, json, os, sys, time\n"
    "from effnet.fileio import HOST\n"
    "os.makedirs(sys.argv[1])\n"
    f"fd = os.open(os.path.join(sys.argv[1], {LOCK_NAME!r}), os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "info = {'pid': os.getpid(), 'host': HOST, 'started': time.time()}\n"
    "os.write(fd, json.dumps(info).encode())\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def other_process(tmp_path):
    """A live process holding ``tmp_path/run``'s lock; killed at the end."""
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    yield folder, proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_folder_another_live_run_holds_is_refused_naming_it(other_process):
    folder, proc = other_process
    with pytest.raises(
        RunFolderBusyError, match=rf"in use by another training run \(pid {proc.pid} on"
    ):
        acquire(folder)
    with pytest.raises(RunFolderBusyError), claim(folder, resume=True):
        pass


def test_the_lock_of_a_killed_run_is_stale_and_taken_over(other_process, capsys):
    folder, proc = other_process
    proc.kill()
    proc.wait()
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == proc.pid  # left behind
    with claim(folder) as lock:
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] != proc.pid
        assert lock.stale["pid"] == proc.pid
    assert (
        f"taking over the stale lock of {folder} left by pid {proc.pid}" in capsys.readouterr().err
    )
    assert not (folder / LOCK_NAME).exists()  # released


def test_a_fresh_run_over_a_finished_one_needs_overwrite(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("log.jsonl", "config.json", "model.safetensors", "summary.json"):
        (folder / name).write_text("the first run's")
    (folder / "tensorboard").mkdir()
    taken = r"already holds a run \(summary\.json, model"
    with pytest.raises(RunFolderTakenError, match=taken), claim(folder):
        pass
    assert (folder / "log.jsonl").read_text() == "the first run's"  # nothing touched
    with claim(folder, resume=True):
        assert (folder / "log.jsonl").exists()
    with claim(folder, overwrite=True):
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME]
    # What a run killed before its first checkpoint leaves has nothing to keep.
    (folder / "log.jsonl").write_text("{}\n")
    with claim(folder):
        pass


def test_starting_weights_that_are_a_file_of_the_run_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "best.safetensors").write_text("weights")
    inputs = ("run/./best.safetensors",)
    with pytest.raises(ValueError, match=r"are the run file best\.safetensors"):  # noqa: SIM117
        with claim(folder, overwrite=True, inputs=inputs):
            pass
    assert (folder / "best.safetensors").exists()


def test_a_folder_created_for_a_run_that_failed_at_once_is_removed(tmp_path):
    folder = tmp_path / "new_run"
    with pytest.raises(RuntimeError), claim(folder):
        assert folder.is_dir()
        raise RuntimeError("bad config")
    assert not folder.exists()
