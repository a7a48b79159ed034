"""Drawn detections: boxes in their class colour at the right place, tags, a PNG file."""

import torch
from PIL import Image

from effnet.detection.draw import PALETTE, draw_detections, save_png
from effnet.detection.postprocess import Detections


def test_boxes_are_drawn_where_they_are_in_the_class_colour(tmp_path):
    image = Image.new("RGB", (64, 32), (255, 255, 255))
    found = Detections(torch.tensor([[8.0, 10.0, 40.0, 30.0]]), torch.tensor([0.9]),
                       torch.tensor([2]))  # fmt: skip
    drawn = draw_detections(image, found, ["a", "b", "c"])
    assert drawn.size == (512, 256)  # enlarged 8x so the tag is legible
    pixels = drawn.load()
    assert pixels[8 * 8 + 1, 8 * 20] == PALETTE[2]  # on the left edge, half-way down
    assert pixels[8 * 24, 8 * 20] == (255, 255, 255)  # inside the box: untouched
    tag = [pixels[x, 8 * 10 - 5] for x in range(8 * 8, 8 * 8 + 40)]
    assert PALETTE[2] in tag and (255, 255, 255) in tag  # a filled tag with white text
    path = save_png(drawn, tmp_path / "out.png")
    assert Image.open(path).format == "PNG"
