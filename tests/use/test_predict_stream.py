"""predict_to_file on 2,000 real digit PNGs: bounded memory, resume in every format, unreadable
files, lists, and the refusals (another model's file, a bad suffix)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from PIL import Image

import effnet
from effnet.use import result_files
from effnet.use.predict_stream import expand_inputs, predict_to_file, prefetched, read_list
from effnet.use.result_files import CsvFile, JsonLines, ParquetParts, read_rows
from tests.use.checkpoints import truncated_jpeg
from tests.use.digit_files import digits_checkpoint, write_digits

BATCH = 64


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits") / "all", 2000)[0].parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return digits_checkpoint(tmp_path_factory.mktemp("ckpt") / "digits_b0.safetensors")


@pytest.fixture(scope="module")
def model(weights):
    return effnet.load(weights)


def first(digits, count, folder):
    """A LIST.txt naming the first ``count`` digits by their absolute paths, so that each row's
    path is the one the 2,000-image reference run wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{path}\n" for path in sorted(digits.iterdir())[:count])
    (folder / "images.txt").write_text(f"# the first {count} digits\n\n{lines}")
    return folder / "images.txt"


#: Run in a fresh interpreter with no decoding processes (workers=0), so that one process does
#: everything the run does. After a warm-up run on 64 images, the kernel's peak-RSS mark is reset
#: (``/proc/self/clear_refs``); ``peak_kb`` is then the peak resident memory of the measured run
#: (VmHWM) and ``start_kb`` the resident memory it started from, unmasked by the peak of loading
#: torch and the model. ``heap`` is the Python heap's peak over the run (tracemalloc).
MEASURE = textwrap.dedent(
    """
    import json, re, sys, tracemalloc
    import torch
    import effnet
    from effnet.use.predict_stream import predict_to_file
    def status(field):
        return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1])
    weights, images, warm, out, threads = sys.argv[1:]
    torch.set_num_threads(int(threads))  # the test process's, so its answers are comparable
    model = effnet.load(weights)
    kw = dict(batch_size=64, workers=0, progress=False)
    predict_to_file(model, [warm], out + ".warm.jsonl", **kw)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = status("VmRSS")
    tracemalloc.start()
    summary = predict_to_file(model, [images], out, **kw)
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"start_kb": start, "peak_kb": status("VmHWM"), "heap": heap,
                      "written": summary.written}))
    """
)


def measure(weights, images, warm, out):
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(weights), str(images), str(warm), str(out),
         str(torch.get_num_threads())],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, digits, weights):
    """Peak memory of runs over 500 and 2,000 images; the 2,000-image output is the reference."""
    root = tmp_path_factory.mktemp("measured")
    warm = first(digits, 64, root / "warm")
    small = measure(weights, first(digits, 500, root / "small"), warm, root / "500.jsonl")
    large = measure(weights, digits, warm, root / "2000.jsonl")
    return {"500": small, "2000": large, "out": root / "2000.jsonl"}


def by_path(out):
    return {row["path"]: row for row in read_rows(out)}


def test_memory_at_2000_images_stays_that_of_500(uninterrupted):
    small, large = uninterrupted["500"], uninterrupted["2000"]
    assert (small["written"], large["written"]) == (500, 2000)
    assert large["peak_kb"] <= 1.10 * small["peak_kb"]
    # Sharper than 10% of a ~750 MB process: the run's own growth is the same for 4x the images
    # (2,000 decoded 24 px images held at once would add 14 MB) ...
    growth_small = small["peak_kb"] - small["start_kb"]
    assert large["peak_kb"] - large["start_kb"] <= growth_small + 8 * 1024
    # ... and the Python heap grows by the 1,500 more paths (~350 bytes each), not by their
    # predictions (a row of five classes is ~2 KB).
    assert large["heap"] - small["heap"] < 1500 * 1000


def test_every_image_once_with_five_classes_in_path_order(uninterrupted, digits):
    rows = list(read_rows(uninterrupted["out"]))
    assert [row["path"] for row in rows] == [str(p) for p in sorted(digits.iterdir())]
    for row in rows[:50]:
        probabilities = [t["probability"] for t in row["top"]]
        assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 5
        assert [t["label"] for t in row["top"]] == [str(t["index"]) for t in row["top"]]
    assert len({row["top"][0]["label"] for row in rows}) > 3  # real answers, not one constant


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_a_run_stopped_after_two_batches_resumes_to_the_same_answers(
    suffix, uninterrupted, digits, model, tmp_path, monkeypatch, capsys
):
    images = first(digits, 320, tmp_path / "list")
    out = tmp_path / f"results{suffix}"
    kind = {".jsonl": JsonLines, ".csv": CsvFile, ".parquet": ParquetParts}[suffix]
    append = kind.append
    calls = []

    def stop_after_two(self, rows):
        if len(calls) == 2:
            raise Interrupt
        calls.append(len(rows))
        append(self, rows)

    with monkeypatch.context() as patch:
        patch.setattr(kind, "append", stop_after_two)
        with pytest.raises(Interrupt):
            predict_to_file(model, [images], out, batch_size=BATCH, workers=0, progress=False)
    summary = predict_to_file(model, [images], out, batch_size=BATCH, workers=0, progress=False)
    assert f"resuming: 128 of 320 images already in {out}" in capsys.readouterr().err
    assert (summary.resumed, summary.written, summary.skipped) == (128, 192, 0)
    rows = list(read_rows(out))
    assert len(rows) == 320 and len({row["path"] for row in rows}) == 320
    reference = by_path(uninterrupted["out"])
    assert all(row["top"] == reference[row["path"]]["top"] for row in rows)
    if suffix == ".parquet":
        assert not out.with_name(out.name + ".parts").exists()


def test_a_torn_last_line_is_cut_before_appending(uninterrupted, digits, model, tmp_path, capsys):
    images = first(digits, 256, tmp_path / "list")
    out = tmp_path / "results.jsonl"
    reference = [json.dumps(r) for r in list(read_rows(uninterrupted["out"]))[:256]]
    # What a kill leaves: the first batch, then half of a line of the second.
    out.write_text("\n".join(reference[:BATCH]) + "\n" + reference[BATCH][:70])
    predict_to_file(model, [images], out, batch_size=BATCH, workers=0, progress=False)
    err = capsys.readouterr().err
    assert f"dropped the incomplete last line of {out}" in err
    assert f"resuming: 64 of 256 images already in {out}" in err
    assert out.read_text().splitlines() == reference


def test_an_empty_or_header_only_file_resumes_from_zero(digits, model, tmp_path, capsys):
    images = first(digits, 70, tmp_path / "list")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "header.csv").write_text(",".join(result_files.COLUMNS) + "\n")
    for out in (tmp_path / "empty.jsonl", tmp_path / "header.csv"):
        summary = predict_to_file(model, [images], out, batch_size=BATCH, workers=0, progress=False)
        assert (summary.resumed, summary.written) == (0, 70)
        assert "resuming" not in capsys.readouterr().err
        assert len(list(read_rows(out))) == 70
    assert (tmp_path / "header.csv").read_text().count("path,model,label") == 1


def test_another_models_file_is_refused_unless_overwritten(digits, weights, tmp_path):
    images = first(digits, 10, tmp_path / "list")
    out = tmp_path / "results.csv"
    predict_to_file(effnet.load(weights), [images], out, workers=0, progress=False)
    other = shutil.copyfile(weights, tmp_path / "other.safetensors")
    with pytest.raises(ValueError) as refused:
        predict_to_file(effnet.load(other), [images], out, workers=0, progress=False)
    (line,) = str(refused.value).splitlines()
    assert f"holds predictions of efficientnet_b0 from {weights}, not of efficientnet_b0 " in line
    assert f"from {other}; pass --overwrite" in line
    summary = predict_to_file(
        effnet.load(other), [images], out, workers=0, progress=False, overwrite=True
    )
    assert summary.written == 10 and {r["model"] for r in read_rows(out)} == {
        f"efficientnet_b0 from {other}"
    }


def test_unreadable_images_are_listed_and_skipped(digits, model, tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    for name in sorted(p.name for p in digits.iterdir())[:3]:
        shutil.copyfile(digits / name, folder / name)
    (folder / "notes.png").write_text("not an image")
    broken = truncated_jpeg(folder / "zz_broken.png")
    out = tmp_path / "results.jsonl"
    summary = predict_to_file(model, [folder], out, batch_size=2, workers=2, progress=False)
    assert (summary.written, summary.skipped) == (5, 2)
    rows = by_path(out)
    assert set(rows[str(folder / "notes.png")]) == {"path", "model", "error"}
    assert rows[str(broken)]["error"].startswith("OSError: ")
    assert sum("top" in row for row in rows.values()) == 3
    warnings = capsys.readouterr().err.splitlines()
    assert f"warning: skipping unreadable image {folder / 'notes.png'} (" in warnings[0]
    assert f"warning: skipping unreadable image {broken} (OSError: " in warnings[1]
    # Named by the user, an unreadable file stops the run with its name.
    with pytest.raises(ValueError, match=f"{broken} is not a readable image"):
        predict_to_file(model, [broken], tmp_path / "named.jsonl", workers=0, progress=False)
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_text("not an image")
    with pytest.raises(ValueError, match="none of the 1 images could be read"):
        predict_to_file(model, [only_bad], tmp_path / "none.jsonl", workers=0, progress=False)


def test_a_list_file_names_images_relative_to_itself(digits, tmp_path):
    (tmp_path / "sub").mkdir()
    image = tmp_path / "sub" / "a.png"
    Image.open(next(iter(sorted(digits.iterdir())))).save(image)
    listing = tmp_path / "images.txt"
    listing.write_text(f"# comment\n\nsub/a.png\n  {image}  \nmissing.png\n")
    assert read_list(listing) == [image, image, tmp_path / "missing.png"]
    paths, named = expand_inputs([str(listing), str(image)])
    assert paths == [image, tmp_path / "missing.png"] and named == {image}
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match=r"empty\.txt lists no images"):
        read_list(tmp_path / "empty.txt")


def test_the_package_function_takes_a_weights_file_and_a_folder(digits, weights, tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    for path in sorted(digits.iterdir())[:5]:
        shutil.copyfile(path, folder / path.name)
    summary = effnet.predict_to_file(weights, folder, tmp_path / "r.parquet", top_k=3, workers=0)
    assert summary.format().startswith("5 images written, 0 skipped unreadable, ")
    rows = list(read_rows(tmp_path / "r.parquet"))
    assert [len(row["top"]) for row in rows] == [3] * 5
    assert rows[0]["model"] == f"efficientnet_b0 from {weights}"


def test_the_fetching_thread_hands_over_errors_and_stops_when_left():
    def three_then_fail():
        yield from range(3)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        got.extend(prefetched(three_then_fail()))
    assert got == [0, 1, 2]
    produced = []

    def endless():
        for i in itertools.count():
            produced.append(i)
            yield i

    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer leaves: the thread stops, at most a queue ahead
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 4
    assert "effnet-predict-fetch" not in {thread.name for thread in threading.enumerate()}


def test_bad_options_are_refused_before_any_work(model, tmp_path):
    with pytest.raises(ValueError, match=r"results.txt: give a file ending in .jsonl, .csv"):
        predict_to_file(model, [tmp_path], tmp_path / "results.txt")
    with pytest.raises(ValueError, match="--workers must be >= 0, got -1"):
        predict_to_file(model, [tmp_path], tmp_path / "r.jsonl", workers=-1)
    with pytest.raises(ValueError, match="--top-k must be >= 1"):
        predict_to_file(model, [tmp_path], tmp_path / "r.jsonl", top_k=0)
    assert not list(tmp_path.iterdir())
