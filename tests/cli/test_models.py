"""``effnet models``: the registered models with size, cost and the paper's top-1 (docs/paper.md
section 1, Table 2: B7 66M parameters, 84.3%), filtered by a shell pattern."""

from effnet.cli import main
from effnet.registry import list_models


def test_models_lists_the_family(capsys):
    assert main(["models", "efficientnet_b*"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_b7" in out and "66.348" in out and "84.3" in out


def test_every_registered_model_has_a_row_under_the_header(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "res", "params", "(M)", "MACs", "(G)", "paper", "top-1"]
    assert [line.split()[0] for line in lines[1:]] == list_models()
    b0 = next(line for line in lines if line.startswith("efficientnet_b0 "))
    assert b0.split() == ["efficientnet_b0", "224", "5.289", "0.386", "77.1"]
    # A model the paper reports no top-1 for shows "-".
    assert next(line for line in lines if line.startswith("resnet50 ")).split()[-1] == "-"


def test_a_pattern_that_matches_nothing_is_a_one_line_error(capsys):
    assert main(["models", "no_such_*"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("effnet models: error: no model matches 'no_such_*'; known: ")
    assert len(err.strip().splitlines()) == 1
