"""One image in, boxes in that image's pixels out (clipped to it)."""

import torch
from PIL import Image

from effnet.detection.predict import detect_image

from .stub import GivenDetections, boxes


def test_boxes_come_back_in_image_pixels(tmp_path):
    Image.new("RGB", (200, 100), (10, 20, 30)).save(tmp_path / "wide.png")
    model = GivenDetections([boxes([[10, 5, 30, 20], [40, 0, 80, 40]], [2, 0])], image_size=50)
    image, found = detect_image(model, tmp_path / "wide.png")
    assert image.size == (200, 100)
    assert model.seen[0].shape == (1, 3, 50, 50)  # letterboxed: 200x100 -> 50x25, padded
    torch.testing.assert_close(found.boxes, torch.tensor([[40.0, 20, 120, 80], [160, 0, 200, 100]]))
    assert found.labels.tolist() == [2, 0]
