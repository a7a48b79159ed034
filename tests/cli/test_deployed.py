"""Exported files through every command, and a checkpoint on any engine without a file.

``predict`` and ``eval`` give the checkpoint's answers whether they run the checkpoint, an exported
file, or the checkpoint on ``--backend``; ``bench FILE --eval`` prints accuracy columns and a
recommendation; a damaged or incomplete artifact is one line naming the file, exit 2, and nothing
written. The checkpoint is B0 at 64 px with batch-norm statistics measured on random images and
three classes: logits of a realistic scale on any input, exports in seconds.
"""

import json
import shutil

import pytest
import torch

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.weights import save_model
from tests.use.checkpoints import calibrated, photo_folder

pytestmark = pytest.mark.engines

CLASSES = ["astronaut", "cat", "coffee"]
#: Every backend a checkpoint can be run on without writing a file, at fp32. ExecuTorch's lowering
#: takes a minute for B0 on 2 cores: its export and runtime are in the default run through
#: tests/deploy/test_every_format.py and test_executorch.py, this path through it in the slow one.
BACKENDS = [
    "eager",
    "onnxruntime",
    "openvino",
    "litert",
    pytest.param("executorch", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)  # module fixtures run before the per-test seed: the same model always
    model = calibrated("efficientnet_b0", 64, num_classes=3)
    path = tmp_path_factory.mktemp("deployed") / "b0.safetensors"
    return save_model(path, model, CLASSES, Preprocess(64))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"), {"astronaut": 2, "cat": 2, "coffee": 2})


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    """The checkpoint as ONNX and as an OpenVINO IR."""
    folder = tmp_path_factory.mktemp("exported")
    for name in ("b0.onnx", "b0.xml"):
        argv = ["export", "--weights", str(checkpoint), "--out", str(folder / name)]
        assert main([*argv, "--tolerance", "1e-3"]) == 0  # logits up to ~10 at 64 px
    return folder


def predictions(capsys, weights, photos, *more) -> list[dict]:
    capsys.readouterr()
    argv = ["predict", "--weights", str(weights), str(photos), "--json", "--top-k", "3", *more]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def assert_same(got: list[dict], expected: list[dict], tolerance: float) -> None:
    assert [p["path"] for p in got] == [p["path"] for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert [t["label"] for t in a["top"]] == [t["label"] for t in b["top"]]
        for ta, tb in zip(a["top"], b["top"], strict=True):
            assert ta["probability"] == pytest.approx(tb["probability"], abs=tolerance)


def test_an_exported_file_predicts_what_its_checkpoint_does(checkpoint, exported, photos, capsys):
    expected = predictions(capsys, checkpoint, photos)
    for name in ("b0.onnx", "b0.xml"):
        assert_same(predictions(capsys, exported / name, photos), expected, 1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_checkpoint_on_any_backend_predicts_what_pytorch_does(
    checkpoint, photos, capsys, backend
):
    expected = predictions(capsys, checkpoint, photos)
    got = predictions(capsys, checkpoint, photos, "--backend", backend, "--precision", "fp32")
    assert_same(got, expected, 1e-4)


def test_eval_of_a_file_and_of_a_checkpoint_on_an_engine_agree(
    checkpoint, exported, photos, capsys, tmp_path
):
    results = []
    runs = [[str(checkpoint)], [str(exported / "b0.xml")], [str(checkpoint), "--backend", "auto"]]
    for i, weights in enumerate(runs):
        out = tmp_path / f"{i}.json"
        argv = ["eval", str(photos), "--weights", *weights, "--json", str(out)]
        assert main([*argv, "--confusion", "none", "--no-progress"]) == 0
        results.append(json.loads(out.read_text()))
    assert results[0]["top1"] == results[1]["top1"] == results[2]["top1"]
    assert results[0]["confusion"] == results[1]["confusion"]


def test_bench_of_a_checkpoint_with_eval_recommends_an_engine(checkpoint, photos, capsys, tmp_path):
    report = tmp_path / "bench.json"
    argv = ["bench", str(checkpoint), "--eval", str(photos), "--formats", "onnx", "torchscript",
            "--precision", "fp32", "--runs", "2", "--batch-size", "2",
            "--json", str(report)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "top-1 %" in out and "agree %" in out and "top-5 agr" in out
    rows = {row["engine"]: row for row in json.loads(report.read_text())["rows"]}
    assert set(rows) == {"eager", "onnxruntime", "torchscript"}
    accuracy = {engine: row["fidelity"]["accuracy"] for engine, row in rows.items()}
    assert len(set(accuracy.values())) == 1  # fp32 everywhere: the same answers
    assert rows["onnxruntime"]["fidelity"]["top1_agreement"] == 1.0
    assert rows["onnxruntime"]["fidelity"]["top5_agreement"] is None  # 3 classes: no top-5
    last = out.strip().splitlines()[-2]
    assert last.startswith("recommended: ") and "x PyTorch eager fp32" in last


def test_bench_of_an_exported_file_times_it_on_its_engine(exported, photos, capsys):
    argv = ["bench", str(exported / "b0.onnx"), "--eval", str(photos), "--runs", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "recommended: onnxruntime fp32 (onnx)" in out


def damaged_files(exported, tmp_path):
    """(file, the name the error must give): a truncated ONNX file, an IR without its .bin, a
    truncated IR (and, in the test, a damaged ExecuTorch program beside a companion JSON that
    describes another file)."""
    onnx_file = tmp_path / "cut.onnx"
    onnx_file.write_bytes((exported / "b0.onnx").read_bytes()[:5000])
    lonely = tmp_path / "lonely.xml"
    shutil.copyfile(exported / "b0.xml", lonely)
    cut = tmp_path / "cut.xml"
    cut.write_text((exported / "b0.xml").read_text()[:300])
    shutil.copyfile(exported / "b0.bin", tmp_path / "cut.bin")
    return [(onnx_file, "cut.onnx"), (lonely, "lonely.bin"), (cut, "cut.xml")]


@pytest.mark.parametrize("command", ["predict", "eval", "bench"])
def test_a_damaged_artifact_is_one_line_naming_it(exported, photos, tmp_path, capsys, command):
    files = damaged_files(exported, tmp_path)
    program = tmp_path / "m.pte"
    program.write_bytes(b"not the program the companion describes")
    (tmp_path / "m.pte.json").write_text(
        json.dumps(
            {"sha256": "0" * 64, **json.loads(effnet.load(exported / "b0.onnx").info.to_json())}
        )
    )
    files.append((program, "m.pte"))
    before = sorted(p.name for p in tmp_path.iterdir())
    for path, name in files:
        argv = {
            "predict": ["predict", "--weights", str(path), str(photos)],
            "eval": [
                "eval",
                str(photos),
                "--weights",
                str(path),
                "--json",
                str(tmp_path / "r.json"),
            ],
            "bench": ["bench", str(path), "--runs", "1"],
        }[command]
        assert main(argv) == 2, path
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_an_artifact_runs_only_on_its_engine_at_its_precision(exported, photos, capsys):
    onnx_file = str(exported / "b0.onnx")
    assert main(["predict", "--weights", onnx_file, str(photos), "--backend", "openvino"]) == 2
    assert "runs on onnxruntime, not --backend openvino" in capsys.readouterr().err
    assert main(["predict", "--weights", onnx_file, str(photos), "--precision", "int8"]) == 2
    assert "was written at fp32, not --precision int8" in capsys.readouterr().err
    cam = ["cam", str(next(photos.rglob("*.png"))), "--weights", onnx_file]
    assert main(cam) == 2
    assert "runs without gradients; a class activation map needs the checkpoint" in (
        capsys.readouterr().err
    )


def test_bench_never_writes_its_json_onto_the_file_it_benches(exported, capsys):
    onnx_file = exported / "b0.onnx"
    before = onnx_file.read_bytes()
    assert main(["bench", str(onnx_file), "--runs", "1", "--json", str(onnx_file)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert onnx_file.read_bytes() == before
