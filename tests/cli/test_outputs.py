"""No command writes onto one of its inputs, nor onto a file it did not make without --overwrite.

Every output flag of every command is pointed at one of the command's inputs and at an existing
unrelated file: exit 2, one line naming the flag, and every byte in the folder as it was. The
refusal comes before any work, so none of these runs loads a model.
"""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.detection.checkpoint import FORMAT as DETECTOR_FORMAT
from effnet.registry import get_spec
from effnet.scaling import scale
from effnet.weights import save_model


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, chelsea_png):
    """A classifier checkpoint, a detector's header, a photo, a class folder, a spec, results."""
    root = tmp_path_factory.mktemp("inputs")
    model = effnet.create_model("efficientnet_b0", num_classes=2)
    ckpt = save_model(root / "b0.safetensors", model, ["cat", "dog"], Preprocess(32))
    detector = root / "det.safetensors"  # dispatch reads only the header; the refusal comes first
    save_file({"w": torch.zeros(1)}, str(detector), metadata={"format": DETECTOR_FORMAT})
    image = root / "cat.png"
    image.write_bytes(chelsea_png.read_bytes())
    data = root / "data"
    for name in ("cat", "dog"):
        (data / name).mkdir(parents=True)
        Image.open(image).convert("RGB").resize((40, 40)).save(data / name / "a.png")
    spec = root / "spec.json"
    spec.write_text(get_spec("efficientnet_b0").to_json())
    results = root / "reports" / "table2.md"  # reproduce's --results, where its table would go
    results.parent.mkdir()
    results.write_text(json.dumps({}))
    return {"root": root, "ckpt": ckpt, "det": detector, "image": image, "data": data,
            "spec": spec, "results": results}  # fmt: skip


# Each output flag: (command line with OUT where the output goes, which input OUT can be made).
CASES = {
    "eval --json": (["eval", "{data}", "--weights", "{ckpt}", "--confusion", "none",
                     "--json", "OUT"], "ckpt"),
    "eval --confusion": (["eval", "{data}", "--weights", "{ckpt}", "--confusion", "OUT"], "ckpt"),
    "eval (detector) --json": (["eval", "{data}", "--weights", "{det}", "--json", "OUT"], "det"),
    "detect --out": (["detect", "{image}", "--weights", "{det}", "--out", "OUT"], "det"),
    "detect --out (image)": (["detect", "{image}", "--weights", "{det}", "--out", "OUT"], "image"),
    "cam --out": (["cam", "{image}", "--weights", "{ckpt}", "--out", "OUT"], "image"),
    "export --out": (["export", "--weights", "{ckpt}", "--format", "torchscript",
                      "--out", "OUT"], "ckpt"),
    "quantize --out": (["quantize", "--weights", "{ckpt}", "--format", "onnx", "--precision",
                        "int8", "--calibration", "digits", "--out", "OUT"], "ckpt"),
    "convert --from --out": (["convert", "--from", "timm", "{ckpt}", "--out", "OUT"], "ckpt"),
    "convert --to --out": (["convert", "--to", "timm", "{ckpt}", "--out", "OUT"], "ckpt"),
    "scale --out": (["scale", "--base", "{spec}", "--phi", "1", "--out", "OUT"], "spec"),
    "bench --json": (["bench", "{ckpt}", "--runs", "1", "--json", "OUT"], "ckpt"),
    "predict --out": (["predict", "{image}", "--weights", "{ckpt}", "--out", "OUT"], "ckpt"),
}  # fmt: skip
#: The unrelated file each flag is pointed at: the suffix the command would accept.
SUFFIX = {"scale --out": ".json", "predict --out": ".jsonl", "eval --confusion": ".png",
          "export --out": ".pt", "quantize --out": ".onnx"}  # fmt: skip


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, argv, folder, *fragments):
    """Exit 2, one line on stderr holding every fragment, and no file in ``folder`` changed."""
    before = snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"effnet {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in err, err
    assert snapshot(folder) == before


def flag_of(case):
    """The option a refusal names (its long spelling)."""
    argv = CASES[case][0]
    return argv[argv.index("OUT") - 1]


def command(case, inputs, out):
    argv, _ = CASES[case]
    return [str(out) if a == "OUT" else a.format(**{k: str(v) for k, v in inputs.items()})
            for a in argv]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_an_output_pointed_at_an_input_is_refused_even_with_overwrite(case, inputs, capsys):
    _, target = CASES[case]
    flag = flag_of(case)
    argv = command(case, inputs, inputs[target])
    refused(capsys, argv, inputs["root"], f"{flag} {inputs[target]} is the input file")
    refused(capsys, [*argv, "--overwrite"], inputs["root"], "is the input file")


@pytest.mark.parametrize("case", CASES)
def test_an_output_pointed_at_an_unrelated_file_is_refused(case, inputs, capsys, tmp_path):
    unrelated = tmp_path / f"notes{SUFFIX.get(case, '.bin')}"
    unrelated.write_bytes(b"someone else's file\n")
    flag = flag_of(case)
    argv = command(case, inputs, unrelated)
    if case == "predict --out":  # an existing results file is resumed, so its rows are checked
        refused(capsys, argv, tmp_path, f"{unrelated}", "--overwrite")
    else:
        refused(capsys, argv, tmp_path, f"{flag} {unrelated} already exists", "--overwrite")


def test_default_outputs_beside_the_input_or_here_are_claimed_too(inputs, capsys, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(inputs["image"].read_bytes())
    (tmp_path / "cat_detections.png").write_bytes(b"an earlier drawing")
    refused(capsys, ["detect", str(image), "--weights", str(inputs["det"])], tmp_path,
            "cat_detections.png already exists")  # fmt: skip
    (tmp_path / "confusion.png").write_bytes(b"an earlier matrix")
    argv = ["eval", str(inputs["data"]), "--weights", str(inputs["ckpt"]),
            "--confusion", str(tmp_path / "confusion.png")]  # fmt: skip
    refused(capsys, argv, tmp_path, "--confusion", "already exists")


def test_reproduce_claims_both_files_it_writes(inputs, capsys, tmp_path):
    results = inputs["results"]
    argv = ["reproduce", "table2", "--results", str(results), "--out", str(results.parent)]
    refused(capsys, argv, inputs["root"], "is the input file")
    (tmp_path / "figure1_5.png").write_bytes(b"an earlier figure")
    argv = ["reproduce", "table2", "--out", str(tmp_path)]
    refused(capsys, argv, tmp_path, "figure1_5.png already exists", "--overwrite")


def test_an_output_folder_where_a_file_stands_is_refused(capsys, tmp_path):
    config = tmp_path / "notes.txt"
    config.write_text("not a folder")
    for name in ("study", "search-scaling"):
        argv = [name, "--config", "study_digits" if name == "study" else "search_digits",
                "--out", str(config)]  # fmt: skip
        refused(capsys, argv, tmp_path, "is a file, not a folder")


def test_overwrite_replaces_an_existing_output(inputs, capsys, tmp_path):
    out = tmp_path / "scaled.json"
    out.write_text("an earlier spec")
    argv = ["scale", "--base", str(inputs["spec"]), "--phi", "1", "--out", str(out)]
    refused(capsys, argv, tmp_path, "already exists")
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(out.read_text())["name"] != "efficientnet_b0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaled.json"]  # no temporary left


def test_an_export_that_fails_its_check_leaves_the_previous_file(capsys, tmp_path):
    spec = tmp_path / "small.json"  # B0 at a quarter of its width and depth: a fast export
    spec.write_text(scale(get_spec("efficientnet_b0"), width=0.25, depth=0.25).to_json())
    out = tmp_path / "small.onnx"
    argv = ["export", "--model", str(spec), "--resolution", "32", "--exporter", "legacy",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0  # a good export, checked against PyTorch
    before = out.read_bytes()
    capsys.readouterr()
    refused(capsys, [*argv, "--overwrite", "--tolerance", "0"], tmp_path,
            "> --tolerance 0", f"{out} is unchanged")  # fmt: skip
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.json", "small.onnx"]
