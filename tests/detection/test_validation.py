"""COCO folders are checked like image folders: every fault is one line naming the file and the
entry, boxes past the border are clipped and counted, and categories meet a model's classes by
name, never by position."""

import json

import pytest

from effnet.cli import main
from effnet.detection.coco import CocoFolder
from effnet.detection.evaluate import evaluate_detector
from effnet.detection.shapes import SHAPE_CLASSES
from tests.test_fuzz import ends_cleanly

from .cocofiles import REVERSED, SIZE, copy_folder, detector, renumbered, shapes_folder
from .stub import GivenDetections, boxes


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A 3-image shapes folder, its annotations, and an untrained D0 checkpoint beside it."""
    root = tmp_path_factory.mktemp("shapes")
    coco = shapes_folder(root / "data")
    return {"root": root, "data": root / "data", "coco": coco,
            "ckpt": detector(root / "d0.safetensors")}  # fmt: skip


def _set(path, value):
    """A change to the annotations: set ``path`` (keys and indices) to ``value``."""

    def change(coco):
        *parents, last = path
        target = coco
        for key in parents:
            target = target[key]
        target[last] = value
        return coco

    return change


def _drop(key):
    return lambda coco: {k: v for k, v in coco.items() if k != key}


def _same_id(section):
    def change(coco):
        coco[section][1]["id"] = coco[section][0]["id"]
        return coco

    return change


def _drop_file_name(coco):
    del coco["images"][0]["file_name"]
    return coco


def _rename_second_category(coco):
    coco["categories"][1]["name"] = coco["categories"][0]["name"]
    return coco


FAULTS = {
    "negative width": (_set(["annotations", 0, "bbox", 2], -3), "annotations[0] (id 1): bbox",
                       "has a width or height <= 0"),
    "zero height": (_set(["annotations", 0, "bbox", 3], 0), "width or height <= 0"),
    "NaN coordinate": (_set(["annotations", 0, "bbox", 0], float("nan")),
                       "annotations[0] (id 1): 'bbox' must be finite, got nan"),
    "infinite size": (_set(["annotations", 1, "bbox", 2], float("inf")),
                      "annotations[1] (id 2): 'bbox' must be finite, got inf"),
    "wholly outside": (_set(["annotations", 0, "bbox"], [40, 3, 5, 5]),
                       "bbox [40, 3, 5, 5] lies outside its 32x32 image"),
    "duplicate category id": (_same_id("categories"),
                              "categories[1]: id 1 is already used by categories[0]"),
    "duplicate category name": (_rename_second_category,
                                'categories[1]: name "circle" is already used by categories[0]'),
    "duplicate image id": (_same_id("images"), "images[1]: id 1 is already used by images[0]"),
    "duplicate annotation id": (_same_id("annotations"),
                                "annotations[1]: id 1 is already used by annotations[0]"),
    "unknown image": (_set(["annotations", 0, "image_id"], 99),
                      "annotations[0] (id 1): image_id 99 names no image in 'images'"),
    "unknown category": (_set(["annotations", 0, "category_id"], 7),
                         "annotations[0] (id 1): category_id 7 names no category"),
    "not an object": (lambda coco: [coco], "the file must be a JSON object, got a list"),
    "missing section": (_drop("categories"), "'categories' is missing"),
    "section of the wrong type": (_set(["images"], {}), "'images' must be a list, got an object"),
    "entry of the wrong type": (_set(["annotations", 0], 5),
                                "annotations[0] must be an object, got an integer"),
    "bbox of 3 numbers": (_set(["annotations", 0, "bbox"], [1, 2, 3]),
                          "'bbox' must be 4 numbers [x, y, w, h], got [1, 2, 3]"),
    "string for a number": (_set(["annotations", 0, "bbox", 1], "2"),
                            "'bbox' must be a number, got \"2\""),
    "string for an id": (_set(["annotations", 0, "image_id"], "1"),
                         "'image_id' must be an integer, got \"1\""),
    "boolean for a size": (_set(["images", 0, "width"], True),
                           "images[0] (id 1): 'width' must be an integer, got true"),
    "missing file name": (_drop_file_name,
                          "images[0] (id 1): 'file_name' is missing"),
    "missing image file": (_set(["images", 0, "file_name"], "gone.png"),
                           "images[0] (id 1) names", "gone.png, which does not exist"),
    "crowd flag": (_set(["annotations", 0, "iscrowd"], 2), "'iscrowd' must be 0 or 1, got 2"),
    "negative area": (_set(["annotations", 0, "area"], -1.5), "'area' must be >= 0, got -1.5"),
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_is_one_line_naming_the_file_and_entry(shapes, tmp_path, fault):
    change, *fragments = FAULTS[fault]
    coco = json.loads(json.dumps(shapes["coco"]))
    folder = copy_folder(shapes["data"], tmp_path, change(coco))
    with pytest.raises((ValueError, OSError)) as caught:
        CocoFolder(folder, SIZE)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'annotations.json'}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("content", "message"),
    [(b'{"images": [', "is not valid JSON"), (b"\xff\xfe{}", "is not UTF-8 text"),
     (b"[" * 100_000, "is nested too deeply"),
     (b'{"images": [' + b"9" * 5000 + b"]}", "is not valid JSON")],
)  # fmt: skip
def test_a_file_that_is_no_json_is_one_line(shapes, tmp_path, content, message):
    copy_folder(shapes["data"], tmp_path, {})
    (tmp_path / "annotations.json").write_bytes(content)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'annotations.json'} {message}"):
        CocoFolder(tmp_path, SIZE)


def test_boxes_past_the_border_are_clipped_and_counted(shapes, tmp_path, capsys):
    coco = json.loads(json.dumps(shapes["coco"]))
    coco["annotations"][0]["bbox"] = [-4.0, 2.0, 10.0, 10.0]  # 4 px left of image 1
    coco["annotations"][1]["bbox"] = [28.0, 20.0, 10.0, 30.0]  # past the right and bottom
    folder = copy_folder(shapes["data"], tmp_path, coco)
    data = CocoFolder(folder, SIZE)
    assert data.clipped == 2 and "2 boxes reaching past their image were clipped" in data.note()
    clipped = [a["bbox"] for a in data.coco["annotations"][:2]]
    assert clipped == [[0.0, 2.0, 6.0, 10.0], [28.0, 20.0, 4.0, 12.0]]
    first = data[0][1]["boxes"][0].tolist()  # in input pixels, as training sees it
    assert first == [0.0, 2.0, 6.0, 12.0]
    assert main(["eval", str(folder), "--weights", str(shapes["ckpt"])]) == 0
    assert "2 boxes clipped to their image" in capsys.readouterr().out


def _perfect_answers(coco):
    """Detections equal to the ground truth, labelled by class NAME in SHAPE_CLASSES' order."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    answers = []
    for image in sorted(coco["images"], key=lambda i: i["id"]):
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        rows = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        labels = [SHAPE_CLASSES.index(names[a["category_id"]]) for a in anns]
        answers.append(boxes(rows, labels))
    return answers


def test_categories_meet_the_models_classes_by_name(shapes, tmp_path):
    answers = _perfect_answers(shapes["coco"])
    scores = []
    for name, coco in (("ids", shapes["coco"]), ("reversed", renumbered(shapes["coco"], REVERSED))):
        folder = copy_folder(shapes["data"], tmp_path / name, coco)
        model = GivenDetections(answers, SIZE)
        model.class_names = list(SHAPE_CLASSES)
        scores.append(evaluate_detector(model, folder, batch_size=8).map)
    assert scores == [1.0, 1.0]  # by position, the reversed ids would score every box wrong


def test_eval_in_another_id_order_gives_the_same_numbers(shapes, tmp_path, capsys):
    results = []
    for name, coco in (("ids", shapes["coco"]), ("reversed", renumbered(shapes["coco"], REVERSED))):
        folder = copy_folder(shapes["data"], tmp_path / name, coco)
        assert main(["eval", str(folder), "--weights", str(shapes["ckpt"]), "--json", "-"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == results[1] and results[0]["map50"] > 0  # an untrained D0 finds some


def test_a_folder_of_other_names_is_refused_naming_them(shapes, tmp_path, capsys):
    coco = json.loads(json.dumps(shapes["coco"]))
    coco["categories"][0]["name"] = "disc"  # was "circle"
    folder = copy_folder(shapes["data"], tmp_path, coco)
    argv = ["eval", str(folder), "--weights", str(shapes["ckpt"])]
    ends_cleanly(capsys, argv, tmp_path, "annotations.json: its categories are not the model's",
                 "categories the model lacks: ['disc']", "none named ['circle']")  # fmt: skip


def test_a_checkpoint_of_unnamed_classes_needs_as_many_categories(shapes, tmp_path):
    model = GivenDetections([], SIZE)
    model.class_names, model.num_classes = None, 3  # the folder has 4 categories
    with pytest.raises(ValueError, match="has 4 categories, the model 3 unnamed classes"):
        evaluate_detector(model, shapes["data"])
