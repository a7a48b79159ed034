"""Atomic writes: a crash mid-write leaves the old file whole and no temporary file behind."""

import errno
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from effnet import fileio
from effnet.fileio import (
    HOST,
    atomic_write,
    claim_folder,
    claim_output,
    locked,
    owner_gone,
    owner_tag,
    refuse_overwrite,
    same_file,
    staged,
    write_with,
)


def test_success_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "state.json"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open(path, "w"), not 0600


@pytest.mark.parametrize("durable", [False, True])
def test_a_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path, durable):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(target, durable) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def _killed_writer(target):
    """A real writer of ``target`` killed with SIGKILL halfway through its temporary file."""
    code = (
        "import os, sys, time\n"
        "from effnet.fileio import atomic_write\n"
        "with atomic_write(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half of the new')\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE)
    tmp = Path(proc.stdout.readline().decode().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return tmp


def test_a_kill_mid_write_keeps_the_old_file_and_the_next_write_removes_the_orphan(tmp_path):
    target = tmp_path / "last.pt"
    target.write_text("old")
    orphan = _killed_writer(target)
    assert orphan.is_file() and target.read_text() == "old"  # the kill left both
    assert owner_gone(orphan.name[len(".last.pt.") :].split(".")[0])
    live = tmp_path / f".last.pt.{owner_tag()}.abcd.tmp"  # this process is writing it
    live.write_text("in progress")
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert not orphan.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "last.pt"])


def test_a_failed_write_is_one_oserror_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    target.write_text("old")

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out" / ".x.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    denied = r"cannot write .*model\.onnx: Permission denied; "
    with pytest.raises(PermissionError, match=denied), atomic_write(target):
        pass
    assert target.read_text() == "old"
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    monkeypatch.undo()
    in_the_way = r"cannot write .*file\.txt/model\.onnx: a file stands where"
    with pytest.raises(OSError, match=in_the_way), atomic_write(not_a_folder / "model.onnx"):
        pass


@pytest.fixture
def small_disk():
    """Writes past 64 kB fail with EFBIG, as on a full disk (RLIMIT_FSIZE; SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_under_torch_save_is_the_os_error_not_torchs(tmp_path, small_disk):
    import torch

    target = tmp_path / "last.pt"
    target.write_text("old")
    with pytest.raises(OSError, match=r"cannot write .*last\.pt: File too large; the previous"):
        write_with(target, lambda f: torch.save({"w": torch.zeros(100_000)}, f), durable=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_refuse_overwrite_sees_through_spellings_and_links(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.safetensors").write_text("weights")
    (tmp_path / "link.safetensors").symlink_to(tmp_path / "w.safetensors")
    for out in ("w.safetensors", "./sub/../w.safetensors", str(tmp_path / "link.safetensors")):
        with pytest.raises(ValueError, match="is the input file"):
            refuse_overwrite(out, [str(tmp_path / "w.safetensors")])
    refuse_overwrite("other.onnx", ["w.safetensors", None, "efficientnet_b0.tv_in1k"])
    assert same_file("w.safetensors", tmp_path / "w.safetensors")


def test_locked_makes_a_second_holder_wait_and_leaves_no_file(tmp_path):
    lock = tmp_path / ".b0.bin.lock"
    order, waited = [], threading.Event()
    with locked(lock):

        def second():
            with locked(lock, on_wait=waited.set):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(10)  # blocked behind the first holder
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
    assert not lock.exists()


def test_claim_output_takes_a_new_path_an_existing_one_only_when_told_an_input_never(tmp_path):
    weights, old = tmp_path / "w.safetensors", tmp_path / "old.json"
    weights.write_text("weights")
    old.write_text("{}")
    assert claim_output(tmp_path / "new.json", [weights]) == tmp_path / "new.json"
    with pytest.raises(FileExistsError, match=r"--json .*old\.json already exists; pass --over"):
        claim_output(old, [weights], flag="--json")
    assert claim_output(old, [weights], overwrite=True) == old
    with pytest.raises(ValueError, match="is the input file"):
        claim_output(weights, [weights], overwrite=True)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        claim_output(tmp_path, [], overwrite=True)
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        claim_folder(old)
    assert claim_folder(tmp_path / "runs") == tmp_path / "runs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json", "w.safetensors"]


def test_staged_files_replace_their_namesakes_main_last_and_only_on_success(tmp_path, monkeypatch):
    ir, weights = tmp_path / "m.xml", tmp_path / "m.bin"
    ir.write_text("old ir")
    weights.write_text("old weights")
    with pytest.raises(ValueError, match="check failed"), staged(ir) as folder:
        (folder / "m.bin").write_text("new weights")
        (folder / "m.xml").write_text("new ir")
        raise ValueError("check failed")
    assert (ir.read_text(), weights.read_text()) == ("old ir", "old weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]
    moved = []
    real_replace = os.replace
    monkeypatch.setattr(fileio.os, "replace", lambda a, b: (moved.append(Path(b).name),
                                                           real_replace(a, b)))  # fmt: skip
    with staged(ir) as folder:
        (folder / "m.xml").write_text("new ir")
        (folder / "m.bin").write_text("new weights")
    assert moved == ["m.bin", "m.xml"]  # an .xml never names weights that are not there yet
    assert (ir.read_text(), weights.read_text()) == ("new ir", "new weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]


def test_a_killed_writers_staging_folder_goes_with_the_next_write(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    orphan = tmp_path / f".m.onnx.{HOST}-{done.pid}.abcd.tmp"
    orphan.mkdir()
    (orphan / "m.onnx").write_text("half an export")
    with staged(tmp_path / "m.onnx") as folder:
        (folder / "m.onnx").write_text("export")
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_ctrl_c_inside_torch_save_is_a_keyboard_interrupt_and_keeps_the_old_file(
    tmp_path, monkeypatch
):
    import torch

    target = tmp_path / "last.pt"
    target.write_text("old")
    writes = []
    real_write = fileio.KeepOSError.write

    def interrupted(self, data):
        writes.append(len(data))
        if len(writes) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while torch.save runs
        return real_write(self, data)

    monkeypatch.setattr(fileio.KeepOSError, "write", interrupted)
    # Ctrl-C as a console program gets it (a pytest-xdist worker ignores SIGINT otherwise).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):  # not torch's "unexpected pos" RuntimeError
            write_with(
                target, lambda f: torch.save({"a": torch.zeros(1000), "b": torch.ones(9)}, f)
            )
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(writes) > 2  # the write went on to its end, and only then was interrupted
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_file_to_read_that_is_a_folder_or_a_fifo_is_named_as_what_it_is(tmp_path):
    from effnet.fileio import existing_file

    (tmp_path / "w.safetensors").write_bytes(b"x")
    assert existing_file(tmp_path / "w.safetensors", "checkpoint") == tmp_path / "w.safetensors"
    with pytest.raises(IsADirectoryError, match=f"checkpoint {tmp_path} is a folder, not a file"):
        existing_file(tmp_path, "checkpoint")
    os.mkfifo(tmp_path / "pipe.safetensors")
    with pytest.raises(OSError, match=r"pipe\.safetensors is not a regular file"):
        existing_file(tmp_path / "pipe.safetensors", "checkpoint")
    with pytest.raises(FileNotFoundError, match=r"gone\.safetensors does not exist"):
        existing_file(tmp_path / "gone.safetensors", "checkpoint")


@pytest.mark.parametrize("command", [["eval", "DATA"], ["export", "--out", "OUT.onnx"]])
def test_weights_that_name_a_folder_say_so_in_one_line(tmp_path, capsys, command):
    from effnet.cli import main

    argv = [a.replace("DATA", str(tmp_path)).replace("OUT", str(tmp_path / "m")) for a in command]
    assert main([*argv, "--weights", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"weights file {tmp_path} is a folder, not a file") and "\n" not in err
