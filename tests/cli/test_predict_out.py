"""``effnet predict --out`` at a shell: 2,000 digit PNGs, a run killed with SIGKILL and rerun, the
summary line, and the refusals that exit 2 with one line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from effnet.cli import build_parser, main
from effnet.use.result_files import read_rows
from tests.use.digit_files import digits_checkpoint, write_digits

SUMMARY = r"^([\d,]+) images written, (\d+) skipped unreadable, [\d.]+ img/s: (.+)$"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits") / "all", 2000)[0].parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return str(digits_checkpoint(tmp_path_factory.mktemp("ckpt") / "digits_b0.safetensors"))


def predict(*args):
    return ["predict", *map(str, args), "--batch-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(digits, weights, tmp_path_factory):
    # A subprocess like the runs it is compared with, so both get the same threads whatever an
    # earlier test left set in this process (a batch's answers move in their last bits with it).
    out = tmp_path_factory.mktemp("reference") / "results.jsonl"
    command = [*predict(digits, "--weights", weights, "--out", out), "--workers", "0"]
    run = subprocess.run([sys.executable, "-m", "effnet.cli", *command], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return out


def complete_lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_finished_file_is_left_as_it_is(uninterrupted, digits, weights, capsys):
    before = uninterrupted.read_bytes()
    assert main(predict(digits, "--weights", weights, "--out", uninterrupted)) == 0
    captured = capsys.readouterr()
    assert f"resuming: 2,000 of 2,000 images already in {uninterrupted}" in captured.err
    (line,) = captured.out.splitlines()
    assert re.match(SUMMARY, line).groups() == ("0", "0", str(uninterrupted))
    assert uninterrupted.read_bytes() == before


def test_a_killed_run_resumes_to_the_answers_of_an_uninterrupted_one(
    uninterrupted, digits, weights, tmp_path
):
    out = tmp_path / "results.jsonl"
    command = predict(digits, "--weights", weights, "--out", out)
    argv = [sys.executable, "-m", "effnet.cli", *command]
    run = subprocess.Popen(argv, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while complete_lines(out) < 5 * 64:  # kill it once it has written five batches
        assert run.poll() is None and time.monotonic() < deadline, "no rows before the run ended"
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGKILL)  # the run and its decoding workers, with no warning
    run.wait()
    done = complete_lines(out)
    assert 0 < done < 2000, done

    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resuming: {done:,} of 2,000 images already in {out}" in result.stderr
    assert result.stdout.startswith(f"{2000 - done:,} images written, 0 skipped unreadable, ")
    rows = list(read_rows(out))
    assert sorted(row["path"] for row in rows) == [str(p) for p in sorted(digits.iterdir())]
    reference = {row["path"]: row for row in read_rows(uninterrupted)}
    assert all(row == reference[row["path"]] for row in rows)  # every answer, to the last bit


def test_parquet_and_csv_runs_resume_through_the_command(digits, weights, tmp_path, capsys):
    listing = tmp_path / "images.txt"
    images = [str(p) for p in sorted(digits.iterdir())[:100]]
    listing.write_text("\n".join(["missing.png", *images]) + "\n")  # one that is not there
    for name in ("results.parquet", "results.csv"):
        out = tmp_path / name
        assert main(predict(listing, "--weights", weights, "--out", out, "--top-k", "2")) == 0
        captured = capsys.readouterr()
        assert re.match(SUMMARY, captured.out).groups() == ("101", "1", str(out))
        assert f"skipping unreadable image {tmp_path / 'missing.png'} (FileNotFoundError" in (
            captured.err
        )
        assert main(predict(listing, "--weights", weights, "--out", out)) == 0
        captured = capsys.readouterr()
        assert f"resuming: 101 of 101 images already in {out}" in captured.err
        assert captured.out.startswith("0 images written")
        rows = list(read_rows(out))
        assert [row["path"] for row in rows[1:]] == images
        assert "FileNotFoundError" in rows[0]["error"]
        assert all(len(row["top"]) == 2 for row in rows[1:])
    assert not (tmp_path / "results.parquet.parts").exists()


def fails_with(capsys, argv, *fragments):
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("effnet predict: error: ")
    for fragment in fragments:
        assert fragment in line


def test_bad_requests_exit_2_with_one_line(digits, weights, uninterrupted, tmp_path, capsys):
    base = [str(digits), "--weights", weights]
    fails_with(capsys, ["predict", *base, "--out", str(tmp_path / "r.txt")], "r.txt", ".jsonl")
    fails_with(capsys, ["predict", *base, "--ray"], "--ray needs --out")
    fails_with(capsys, ["predict", *base, "--overwrite"], "--overwrite needs --out")
    fails_with(capsys, ["predict", *base, "--workers", "0"], "--workers needs --out")
    out = str(tmp_path / "r.jsonl")
    fails_with(
        capsys, ["predict", *base, "--out", out, "--workers", "-1"], "--workers: must be in [0, "
    )
    other = shutil.copyfile(weights, tmp_path / "other.safetensors")
    fails_with(
        capsys,
        ["predict", str(digits), "--weights", str(other), "--out", str(uninterrupted)],
        f"holds predictions of efficientnet_b0 from {weights}",
        f"not of efficientnet_b0 from {other}",
    )
    assert not os.path.exists(out)


def test_without_ray_installed_ray_is_one_line(digits, weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    out = tmp_path / "r.jsonl"
    argv = ["predict", str(digits), "--weights", weights, "--out", str(out), "--ray"]
    fails_with(capsys, argv, "--ray needs Ray Data: pip install 'effnet[ray]'")
    assert not out.exists()


def test_ray_takes_an_optional_address():
    parser = build_parser()
    common = ["predict", "pics/", "--weights", "w.safetensors", "--out", "r.jsonl"]
    assert parser.parse_args([*common, "--ray"]).ray == "local"
    assert parser.parse_args([*common, "--ray=ray://head:10001"]).ray == "ray://head:10001"
    assert parser.parse_args(common).ray is None
