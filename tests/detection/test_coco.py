"""COCO-json folders: letterboxed images, boxes in input pixels, flips that move the boxes."""

import json

import pytest
import torch
from PIL import Image

from effnet.detection.coco import CocoFolder, collate


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (100, 50), (255, 0, 0)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (40, 40), (0, 0, 255)).save(tmp_path / "images" / "b.png")
    coco = {
        "images": [{"id": 7, "file_name": "a.png", "width": 100, "height": 50},
                   {"id": 9, "file_name": "b.png", "width": 40, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 5, "bbox": [10, 5, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 1},
        ],
        "categories": [{"id": 5, "name": "dog"}, {"id": 3, "name": "cat"}],
    }  # fmt: skip
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    return tmp_path


def test_letterbox_and_boxes(folder):
    data = CocoFolder(folder, 50, mean=(0, 0, 0), std=(1, 1, 1))
    assert data.class_names == ["cat", "dog"]  # categories in id order: label = index
    image, target = data[0]
    assert image.shape == (3, 50, 50) and target["scale"] == 0.5 and target["image_id"] == 7
    assert torch.allclose(image[:, :25, :], torch.tensor([1.0, 0, 0]).view(3, 1, 1))  # the image
    assert image[:, 25:, :].abs().sum() == 0  # padding below it
    torch.testing.assert_close(target["boxes"], torch.tensor([[5.0, 2.5, 15.0, 7.5]]))
    assert target["labels"].tolist() == [1]  # "dog"; the crowd box is left out
    images, targets = collate([data[0], data[1]])
    assert images.shape == (2, 3, 50, 50) and targets[1]["boxes"].shape == (0, 4)


def test_flip_mirrors_boxes_within_the_image(folder):
    torch.manual_seed(0)
    data = CocoFolder(folder, 50, hflip=True)
    flipped = [data[0][1]["boxes"] for _ in range(20)]
    assert any(torch.equal(b, torch.tensor([[35.0, 2.5, 45.0, 7.5]])) for b in flipped)
    assert any(torch.equal(b, torch.tensor([[5.0, 2.5, 15.0, 7.5]])) for b in flipped)


def test_missing_annotations_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no annotations\.json"):
        CocoFolder(tmp_path, 64)


@pytest.mark.parametrize("declared", ["stored", "upright"])
def test_an_exif_rotated_image_is_read_as_its_boxes_were_drawn(tmp_path, declared):
    """A photo stored 100x50 and tagged "rotate 90" (EXIF orientation 6) is 50x100 upright; the
    annotations' declared size says which of the two their boxes were drawn on."""
    (tmp_path / "images").mkdir()
    pixels = torch.zeros(50, 100, 3, dtype=torch.uint8)
    pixels[:, :50] = 255  # left half white as stored: the top half once turned upright
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels.numpy()).save(tmp_path / "images" / "a.png", exif=exif)
    width, height = (100, 50) if declared == "stored" else (50, 100)
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    image, target = CocoFolder(tmp_path, 100, mean=(0, 0, 0), std=(1, 1, 1))[0]
    white = image[0] > 0.5
    if declared == "stored":  # as stored: white on the left, 100 wide and 50 high
        assert white[:50, :50].all() and not white[:50, 50:].any() and target["scale"] == 1.0
    else:  # upright: white on top, 50 wide and 100 high
        assert white[:50, :50].all() and not white[50:, :50].any() and target["scale"] == 1.0
    assert not image[:, :, 50:].any() if declared == "upright" else not image[:, 50:].any()
