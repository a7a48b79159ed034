"""A detector run's data is checked as a whole before the first step: every split's file, the val
categories against the training ones (by name), and enough images to train and to score."""

import json

import pytest

from effnet.detection.config import DetectionConfig
from effnet.detection.rundata import load_run_data
from tests.test_fuzz import ends_cleanly

from .cocofiles import REVERSED, SIZE, copy_folder, renumbered, shapes_folder


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return {"data": root / "data", "coco": shapes_folder(root / "data")}


def _config(tmp_path, data_dir, **fields):
    """A detection config file training D0 at 32 px on ``data_dir``'s train/ and val/."""
    fields = dict(model="efficientdet_d0", image_size=SIZE, anchor_scale=2.0, dataset="coco",
                  data_dir=str(data_dir), batch_size=2, epochs=1, device="cpu",
                  output_dir=str(tmp_path / "run")) | fields  # fmt: skip
    path = tmp_path / "det.py"
    path.write_text(
        "from effnet.detection.config import DetectionConfig\n\n"
        f"def get_config():\n    return DetectionConfig(**{fields!r})\n"
    )
    return str(path)


@pytest.mark.parametrize("split", ["train", "val"])
def test_training_refuses_a_bad_split_before_it_starts(shapes, tmp_path, capsys, split):
    good = shapes["coco"]
    bad = json.loads(json.dumps(good))
    if split == "train":  # the box that made every step's loss NaN
        bad["annotations"][2]["bbox"][2] = -5
        fragments = ["train/annotations.json: annotations[2] (id 3): bbox", "width or height <= 0"]
    else:
        bad["categories"][3]["name"] = "oval"
        fragments = ["val/annotations.json: its categories are not the model's",
                     "categories the model lacks: ['oval']", "none named ['ellipse']"]  # fmt: skip
    data = tmp_path / "data"
    for name in ("train", "val"):
        copy_folder(shapes["data"], data / name, bad if name == split else good)
    argv = ["train", "--config", _config(tmp_path, data)]
    ends_cleanly(capsys, argv, data, *fragments)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def _splits(shapes, root, **coco):
    """train/ val/ (and test/ where given) folders of the shapes images under ``root``."""
    for name in ("train", "val", *coco):
        copy_folder(shapes["data"], root / name, coco.get(name, shapes["coco"]))
    return DetectionConfig(dataset="coco", data_dir=str(root), batch_size=2, image_size=SIZE)


def test_val_is_labelled_by_the_training_names_whatever_its_ids(shapes, tmp_path):
    cfg = _splits(shapes, tmp_path, val=renumbered(shapes["coco"], REVERSED))
    data = load_run_data(cfg, SIZE)
    assert data.class_names == ["circle", "rectangle", "triangle", "ellipse"]  # train's id order
    assert data.val.category_ids == [4, 3, 2, 1]  # the same names under val's ids
    assert data.train[0][1]["labels"].tolist() == data.val[0][1]["labels"].tolist()
    resumed = load_run_data(cfg, SIZE, ["ellipse", "triangle", "rectangle", "circle"])
    assert resumed.train.category_ids == [4, 3, 2, 1] and resumed.val.category_ids == [1, 2, 3, 4]


def test_a_run_that_cannot_train_or_score_is_refused(shapes, tmp_path):
    empty = {**shapes["coco"], "images": [], "annotations": []}
    cfg = _splits(shapes, tmp_path / "a", test=empty)
    assert load_run_data(cfg, SIZE).test is None  # an empty test split is left out
    with pytest.raises(ValueError, match="has 3 images, fewer than batch_size 4"):
        load_run_data(cfg.replace(batch_size=4), SIZE)
    with pytest.raises(ValueError, match="val has no images to score the run on"):
        load_run_data(_splits(shapes, tmp_path / "b", val=empty), SIZE)
