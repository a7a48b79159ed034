"""The results files of ``effnet predict --out``: each format written and read back, torn lines
cut, Parquet parts combined once, and the files that are not ours (or not our model's) refused."""

from __future__ import annotations

import shutil

import pytest

from effnet.use.result_files import (
    COLUMNS,
    check_output,
    drop_partial_line,
    error_row,
    open_results,
    prediction_row,
    read_rows,
)

MODEL = "efficientnet_b0 from digits.safetensors"


def rows(start: int, count: int, broken: int | None = None) -> list[dict]:
    """``count`` records of images ``start``...; image ``broken`` unreadable."""
    out = []
    for i in range(start, start + count):
        if i == broken:
            out.append(error_row(f"img/{i}.png", MODEL, "OSError: image file is truncated"))
            continue
        top = [
            {"label": "7", "index": 7, "probability": 0.6123456789012345},
            {"label": '1, or "one"', "index": 1, "probability": 1.5e-08 * (i + 1)},
        ]
        out.append(prediction_row(f"img/{i},{i}.png", MODEL, top))
    return out


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_reads_back_exactly_what_was_written(suffix, tmp_path):
    out = tmp_path / f"results{suffix}"
    results = open_results(out, MODEL)
    assert results.existing().paths == set()
    written = rows(0, 3, broken=1) + rows(3, 2)
    results.append(written[:3])
    results.append(written[3:])
    results.finish()
    assert list(read_rows(out)) == written  # floats, commas and quotes survive every format
    again = open_results(out, MODEL).existing()
    assert again.paths == {row["path"] for row in written} and again.readable == 4


def test_csv_has_one_header_and_the_flat_columns(tmp_path):
    out = tmp_path / "results.csv"
    results = open_results(out, MODEL)
    results.append(rows(0, 1))
    results.append(rows(1, 1, broken=1))
    header, first, second = out.read_text().splitlines()
    assert header == ",".join(COLUMNS) == "path,model,label,index,probability,top_k,error"
    assert first.startswith(f'"img/0,0.png",{MODEL},7,7,0.6123456789012345,"[{{')
    assert second == f"img/1.png,{MODEL},,,,,OSError: image file is truncated"


def test_a_torn_last_line_is_cut_and_a_whole_file_is_left_alone(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert drop_partial_line(path) and path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert not drop_partial_line(path) and path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    path.write_bytes(b"x\n" + b"y" * 200_000)  # the cut is found across read blocks
    assert drop_partial_line(path) and path.read_bytes() == b"x\n"
    path.write_bytes(b"no newline at all")
    assert drop_partial_line(path) and path.read_bytes() == b""


def test_a_killed_parquet_combine_leaves_no_duplicate(tmp_path):
    out = tmp_path / "results.parquet"
    results = open_results(out, MODEL)
    results.append(rows(0, 2))
    results.append(rows(2, 2))
    parts = out.with_name("results.parquet.parts")
    saved = shutil.copytree(parts, tmp_path / "saved")
    results.finish()
    assert out.is_file() and not parts.exists()
    # A kill after the combined file replaced OUT but before the parts were removed:
    shutil.copytree(saved, parts)
    resumed = open_results(out, MODEL)
    found = resumed.existing()
    assert len(found.paths) == 4 and found.readable == 4
    resumed.append(rows(4, 1))
    assert resumed.next_part == 3  # after the parts already there, none overwritten
    resumed.finish()
    assert [row["path"] for row in read_rows(out)] == [row["path"] for row in rows(0, 5)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_another_models_rows_are_refused_and_overwrite_starts_afresh(suffix, tmp_path):
    out = tmp_path / f"results{suffix}"
    first = open_results(out, MODEL)
    first.append(rows(0, 2))
    with pytest.raises(ValueError) as refused:
        open_results(out, "efficientnet_b1 from other.safetensors").existing()
    assert str(refused.value).endswith(
        f"holds predictions of {MODEL}, not of efficientnet_b1 from other.safetensors; pass "
        "--overwrite to start afresh, or give another --out"
    )
    fresh = open_results(out, "efficientnet_b1 from other.safetensors", overwrite=True)
    assert fresh.existing().paths == set()


def test_files_that_are_not_results_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write results to out\.txt: give a file ending"):
        check_output("out.txt")
    assert check_output("OUT.JSONL") == ".jsonl"
    csv = tmp_path / "people.csv"
    csv.write_text("name,age\nann,3\n")
    with pytest.raises(ValueError, match=r"people\.csv is not an effnet predictions CSV"):
        open_results(csv, MODEL).existing()
    lines = tmp_path / "notes.jsonl"
    lines.write_text('{"path": "a.png", "model": "m", "top": []}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"notes\.jsonl line 2 is not a prediction row"):
        open_results(lines, "m").existing()


def test_a_write_that_fails_names_the_file(tmp_path):
    out = tmp_path / "results.jsonl"
    out.mkdir()  # a folder where the file should be
    with pytest.raises(OSError, match=f"cannot write {out}"):
        open_results(out, MODEL).append(rows(0, 1))
