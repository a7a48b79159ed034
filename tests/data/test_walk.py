"""The one folder walk: each real folder once (links to a parent or to themselves neither repeat
nor hang it), FIFOs and sockets never opened, and every command that reads folders agrees.

A hang is a failure here, not a stuck run: each test that could hang carries a timeout.
"""

import glob
import json
import os
import socket
from pathlib import Path

import pytest

import effnet
import effnet.train
from effnet.cli import main
from effnet.data import Preprocess
from effnet.data.folders import ImageFolder
from effnet.data.images import collect_images, decode_image, images_under, open_image
from effnet.train import TrainResult
from effnet.train.finetune import default_minival
from effnet.weights import save_model
from tests.use.checkpoints import biased, crop, photo_folder

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "b0_digits.py")
#: Seconds a test may take: seconds on a quiet machine; a walk that loops would take forever.
QUICK = pytest.mark.timeout(180)


def looped(root: Path) -> Path:
    """``cat/`` (2 photos) and ``coffee/`` (3): ``cat/self -> ../cat`` (a link to its parent
    folder), ``coffee/a`` and ``coffee/b`` both ``-> .`` (the pair that never ends for a walk
    without memory) and a FIFO ``coffee/pipe.png``. Five images to read, nothing else."""
    photo_folder(root, {"cat": 2, "coffee": 3})
    (root / "cat" / "self").symlink_to("../cat")
    (root / "coffee" / "a").symlink_to(".")
    (root / "coffee" / "b").symlink_to(".")
    os.mkfifo(root / "coffee" / "pipe.png")
    return root


REAL = ["cat/0.png", "cat/1.png", "coffee/0.png", "coffee/1.png", "coffee/2.png"]


def photos(folder: Path, count: int) -> Path:
    """``folder/<i>.png``: ``count`` crops of a real photograph."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        crop("cat", i).save(folder / f"{i}.png")
    return folder


def names(paths, root) -> list[str]:
    return [Path(p).relative_to(root).as_posix() for p in paths]


@QUICK
def test_links_to_a_parent_or_to_themselves_are_walked_once(tmp_path, capsys):
    root = looped(tmp_path / "data")
    assert names(images_under(root), root) == REAL
    folder = ImageFolder(root)
    assert names([p for p, _ in folder.samples], root) == REAL
    assert folder.targets == [0, 0, 1, 1, 1]
    (warning,) = capsys.readouterr().err.splitlines()  # two walks, one warning
    assert (
        warning == f"warning: skipping {root / 'coffee' / 'pipe.png'}: a FIFO, not a regular file"
    )


@QUICK
def test_a_folder_reached_twice_is_listed_once_under_its_own_path(tmp_path):
    root = tmp_path / "data"
    photos(root / "a", 1), photos(root / "real", 2)
    (root / "a" / "alias").symlink_to("../real")  # met before real/ in sorted order
    (root / "a" / "up").symlink_to("..")  # the whole tree again
    found = names(images_under(root), root)
    assert found == ["a/0.png", "real/0.png", "real/1.png"]


@QUICK
def test_a_link_inside_a_class_never_reaches_the_other_classes(tmp_path):
    root = photo_folder(tmp_path / "data", {"cat": 1, "coffee": 2})
    (root / "cat" / "up").symlink_to("..")  # a walk of cat/ alone would find coffee's photos
    folder = ImageFolder(root)
    assert names([p for p, _ in folder.samples], root) == [
        "cat/0.png",
        "coffee/0.png",
        "coffee/1.png",
    ]
    assert folder.targets == [0, 1, 1]


def test_ordinary_trees_with_links_out_keep_torchvisions_order(tmp_path):
    """Links to folders elsewhere (a class on another disk) are followed, in the order
    torchvision's ImageFolder gives: training's minival hold-out depends on it."""
    from torchvision.datasets.folder import make_dataset

    elsewhere = photos(tmp_path / "disk2" / "x", 3)
    root = photo_folder(tmp_path / "data", {"cat": 2, "coffee": 1})
    (root / "cat" / "more").symlink_to(elsewhere)
    photos(root / "coffee" / "sub" / "deeper", 2)
    (root / "dog").symlink_to(elsewhere)
    folder = ImageFolder(root)
    assert len(folder) == 11
    assert folder.samples == make_dataset(str(root), folder.class_to_idx, extensions=(".png",))


@QUICK
def test_what_is_not_a_regular_file_is_never_opened(tmp_path, capsys):
    root = photo_folder(tmp_path / "d", {"cat": 1})
    fifo, sock = root / "cat" / "pipe.jpg", root / "cat" / "sock.png"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        assert names(images_under(root), root) == ["cat/0.png"]
        err = capsys.readouterr().err
        assert f"skipping {fifo}: a FIFO, not a regular file" in err
        assert f"skipping {sock}: a socket, not a regular file" in err
        with pytest.raises(OSError, match="a FIFO, not a regular file"):
            decode_image(fifo)  # for the loaders' skip warning, which names the file
        with pytest.raises(ValueError, match=rf"{fifo} is not a readable image \(a FIFO"):
            open_image(fifo)
        with pytest.raises(OSError, match=rf"image {fifo} is a FIFO, not a regular file"):
            collect_images([fifo])  # named by the user: an error, not a skip
        assert names(collect_images([root / "cat" / "*"]), root) == ["cat/0.png"]
    finally:
        server.close()


@QUICK
def test_a_recursive_glob_is_pythons_on_ordinary_trees_and_never_loops(tmp_path, monkeypatch):
    root = photo_folder(tmp_path / "data", {"cat": 2, "coffee": 1})
    photos(root / ".hidden", 1), photos(root / "coffee" / "sub", 1)
    (root / "top.png").write_bytes((root / "cat" / "0.png").read_bytes())
    monkeypatch.chdir(tmp_path)
    for pattern in ("data/**/*.png", "data/**", "**/*.png", "d*/**/0.png", f"{root}/**/*.png"):
        expected = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if p.endswith(".png"))
        assert collect_images([pattern]) == expected, pattern
    (root / "cat" / "self").symlink_to("../cat")
    (root / "coffee" / "a").symlink_to(".")
    (root / "coffee" / "b").symlink_to(".")
    os.mkfifo(root / "cat" / "pipe.png")
    found = collect_images(["data/**/*.png"])
    assert names(found, "data") == ["cat/0.png", "cat/1.png", "coffee/0.png", "coffee/sub/0.png",
                                    "top.png"]  # fmt: skip


# Every command that reads folders, on the same looped tree: right counts, no hang.


@pytest.fixture(scope="module")
def always_coffee(tmp_path_factory):
    return str(biased(tmp_path_factory.mktemp("biased") / "b0.safetensors"))


@QUICK
def test_eval_scores_each_image_once(always_coffee, tmp_path, capsys):
    root = looped(tmp_path / "data")
    out = tmp_path / "r.json"
    argv = ["eval", "--weights", always_coffee, str(root), "--no-progress", "--json", str(out)]
    assert main([*argv, "--confusion", "none"]) == 0
    report = json.loads(out.read_text())
    assert report["num_images"] == 5 and report["top1"] == pytest.approx(3 / 5)
    assert "a FIFO, not a regular file" in capsys.readouterr().err


@QUICK
def test_predict_answers_each_image_once(always_coffee, tmp_path, capsys):
    root = looped(tmp_path / "data")
    assert main(["predict", "--weights", always_coffee, str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert names([entry["path"] for entry in json.loads(captured.out)], root) == REAL
    assert f"skipping {root / 'coffee' / 'pipe.png'}: a FIFO" in captured.err
    listed = root / "list.txt"
    listed.write_text("coffee/pipe.png\ncoffee/0.png\n")  # a list names files for reading
    assert main(["predict", "--weights", always_coffee, str(listed), "--json"]) == 0
    captured = capsys.readouterr()
    assert names([entry["path"] for entry in json.loads(captured.out)], root) == ["coffee/0.png"]
    assert "pipe.png (OSError: a FIFO, not a regular file)" in captured.err


@QUICK
def test_training_data_holds_each_image_once(tmp_path):
    """What ``effnet train`` and ``effnet finetune`` read (:func:`build_datasets`), minival
    included: the fast check; the next test runs the command itself."""
    from effnet.data import build_datasets

    root = looped(tmp_path / "data")
    splits = build_datasets("imagefolder", str(root), 32, minival_size=1, autoaugment=None)
    assert (
        len(splits.train) == 4 and len(splits.val) == 1 and splits.class_names == ["cat", "coffee"]
    )
    held_out = {splits.train.base.describe(i) for i in splits.val.indices}
    trained = {splits.train.base.describe(i) for i in splits.train.indices}
    assert sorted(names(held_out | trained, root)) == REAL


@pytest.mark.slow  # a real run: tens of seconds on a busy 2-core machine
@QUICK
def test_train_reads_each_image_once(tmp_path, capsys):
    root = looped(tmp_path / "data")
    tiny = [
        "dataset=imagefolder", f"data_dir={root}", "minival_size=0", "image_size=32",
        "batch_size=5", "epochs=1", "warmup_epochs=0", "autoaugment=none", "num_workers=0",
        "device=cpu", f"output_dir={tmp_path / 'run'}",
    ]  # fmt: skip
    assert main(["train", "--config", CONFIG, "--override", *tiny]) == 0
    assert "on imagefolder (5 train / " in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 1


@QUICK
def test_finetune_counts_the_images_training_reads(tmp_path, monkeypatch):
    """The default minival is 10% of what the walk finds: a linked class folder counts, the FIFO
    and the folders met again through links do not."""
    elsewhere = photos(tmp_path / "disk2" / "coffee", 11)
    root = photo_folder(tmp_path / "data" / "train", {"cat": 9})
    (root / "cat" / "self").symlink_to("../cat")
    (root / "cat" / "a").symlink_to(".")
    (root / "cat" / "b").symlink_to(".")
    os.mkfifo(root / "cat" / "pipe.png")
    (root / "coffee").symlink_to(elsewhere)
    assert len(ImageFolder(root)) == 20 and default_minival(tmp_path / "data") == 2
    captured = {}

    def fake_train(cfg, resume=False, overwrite=False):
        captured["cfg"] = cfg
        out = Path(cfg.output_dir)
        return TrainResult(0.5, None, out / "model.safetensors", out / "best.safetensors")

    monkeypatch.setattr(effnet.train, "train", fake_train)
    model = effnet.create_model("efficientnet_b0", num_classes=2)
    init = save_model(tmp_path / "init.safetensors", model, preprocess=Preprocess(32))
    argv = ["finetune", str(tmp_path / "data"), "--weights", str(init), "--output-dir",
            str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    assert captured["cfg"].minival_size == 2


@QUICK
def test_cam_refuses_a_fifo_without_opening_it(always_coffee, tmp_path, capsys):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    argv = ["cam", str(fifo), "--weights", always_coffee, "--out", str(tmp_path / "c.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a FIFO, not a regular file" in err and str(fifo) in err
