"""``effnet reproduce``: prints the table it writes, reads --results, and fails in one line."""

import json

import pytest
from PIL import Image

from effnet.cli import main


def test_prints_and_writes_the_table_and_the_family_plot(tmp_path, capsys):
    assert main(["reproduce", "table2", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    md = (tmp_path / "table2.md").read_text()
    assert printed == f"{md}\nwrote {tmp_path / 'table2.md'} and {tmp_path / 'figure1_5.png'}\n"
    assert '"not measured": no results file was given (`--results`).' in md
    with Image.open(tmp_path / "figure1_5.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1] > 300


def test_default_output_folder_is_reports_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "table7"]) == 0
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "figure1_5.png",
        "table7.md",
    ]


def test_measured_accuracy_comes_only_from_a_results_file(tmp_path):
    results = tmp_path / "measured.json"
    results.write_text(json.dumps({"efficientnet_b0": 0.7712, "efficientnet_b3": 81.4}))
    assert main(["reproduce", "table2", "--results", str(results), "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "table2.md").read_text().splitlines()
    row = {line.split("|")[1].strip(): line.split("|")[8].strip() for line in lines
           if line.startswith("| efficientnet_b")}  # fmt: skip
    assert row["efficientnet_b0"] == "77.12"  # a fraction is read as a share
    assert row["efficientnet_b3"] == "81.40"
    assert row["efficientnet_b1"] == "not measured"


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"efficientnet_b0": "high"}', "expected an effnet")],
)
def test_bad_results_file_is_a_one_line_error(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["reproduce", "table2", "--results", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effnet reproduce: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_results_file(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert main(["reproduce", "table7", "--results", str(missing), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
