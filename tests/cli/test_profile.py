"""``effnet profile``: the per-stage table of a registered model or a saved spec, cross-checked
with torch's flop counter, and one-line errors. B3: 12M parameters, 1.8B FLOPs (docs/paper.md
section 1, Table 2)."""

import pytest

from effnet.cli import main


def test_profile_prints_per_stage_table_cross_checked(capsys):
    assert main(["profile", "efficientnet_b3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "efficientnet_b3 at 300x300" in lines[0]
    # Table 1 numbering: stem, seven MBConv stages, head conv, classifier.
    assert sum(1 for line in lines if line[:2].strip().isdigit()) == 10
    assert "12,233,232" in out and "1,827,141,392" in out
    assert "(+0.0000% vs the table)" in out


def test_options_change_the_size_classes_and_skip_the_cross_check(capsys):
    assert main(["profile", "efficientnet_b0", "--resolution", "112", "--num-classes", "10",
                 "--no-cross-check"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "efficientnet_b0 at 112x112"
    # The classifier: 10 outputs from B0's 1280 head channels, 1280 * 10 + 10 parameters.
    assert lines[12].split()[:7] == ["10", "pool", "+", "fc", "4x4", "10", "1"]
    assert lines[12].split()[7] == "12,810"
    assert not any("flop_counter" in line for line in lines)


def test_a_saved_spec_can_be_profiled(capsys, tmp_path):
    from effnet.registry import get_spec

    path = tmp_path / "b0.json"
    path.write_text(get_spec("efficientnet_b0").replace(name="my_net").to_json())
    assert main(["profile", str(path), "--no-cross-check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("my_net at 224x224") and "5,288,548" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["efficientnet_b9"], "unknown model 'efficientnet_b9'"),
        (["efficientnet_b0", "--resolution", "8192"], "makes a feature map of 1,610,612,736"),
    ],
)
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    assert main(["profile", *argv, "--no-cross-check"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("effnet profile: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
