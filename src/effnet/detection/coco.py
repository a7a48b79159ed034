"""COCO-format detection folders: ``annotations.json`` plus the images it names.

A folder holds ``annotations.json`` (COCO's ``images`` / ``annotations`` / ``categories``) and the
images, under ``images/`` or beside the file. :class:`CocoFolder` yields each image resized (its
longer side to ``image_size``, aspect kept) and padded bottom-right to a square, with its boxes in
that input's pixels (x1, y1, x2, y2) and 0-based labels (categories in id order). ``scale`` maps
input pixels back to the original image, which is where COCO evaluation compares.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data.preprocess import IMAGENET_MEAN, IMAGENET_STD


def letterbox(image: Any, size: int, mean: tuple, std: tuple) -> tuple[torch.Tensor, float]:
    """PIL image -> normalised (3, size, size) tensor, longer side scaled to ``size``, padded
    with zeros (the mean colour) bottom-right; returns it and the scale (input px per image px)."""
    from torchvision.transforms import functional as TF

    image = image.convert("RGB")
    scale = size / max(image.width, image.height)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    tensor = TF.normalize(TF.to_tensor(image.resize((width, height))), mean, std)
    out = torch.zeros(3, size, size)
    out[:, :height, :width] = tensor
    return out, scale


class CocoFolder(Dataset):
    """A COCO-json folder as (image tensor, target) pairs for a square input of ``image_size``.

    ``target``: ``boxes`` (K, 4) float, ``labels`` (K,) long, ``image_id`` and ``scale``.
    ``hflip`` mirrors each image with probability 0.5 (training augmentation).
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        mean: tuple = IMAGENET_MEAN,
        std: tuple = IMAGENET_STD,
        hflip: bool = False,
    ) -> None:
        self.root = Path(root)
        path = self.root / "annotations.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root} has no annotations.json (a COCO-format folder)")
        self.coco = json.loads(path.read_text())
        self.image_size, self.mean, self.std, self.hflip = image_size, mean, std, hflip
        self.categories = sorted(self.coco["categories"], key=lambda c: c["id"])
        self.category_ids = [c["id"] for c in self.categories]
        self.class_names = [c["name"] for c in self.categories]
        self.images = sorted(self.coco["images"], key=lambda i: i["id"])
        self.objects: dict[int, list[dict]] = {i["id"]: [] for i in self.images}
        for ann in self.coco["annotations"]:
            if not ann.get("iscrowd", 0):
                self.objects[ann["image_id"]].append(ann)
        folder = self.root / "images"
        self.image_dir = folder if folder.is_dir() else self.root

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        from PIL import Image

        info = self.images[index]
        with Image.open(self.image_dir / info["file_name"]) as img:
            image, scale = letterbox(img, self.image_size, self.mean, self.std)
            width = img.width * scale
        boxes, labels = [], []
        for ann in self.objects[info["id"]]:
            x, y, w, h = ann["bbox"]
            boxes.append([x * scale, y * scale, (x + w) * scale, (y + h) * scale])
            labels.append(self.category_ids.index(ann["category_id"]))
        box_tensor = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        if self.hflip and torch.rand(()) < 0.5:
            image[:, :, : round(width)] = image[:, :, : round(width)].flip(-1)
            box_tensor = torch.stack(
                [width - box_tensor[:, 2], box_tensor[:, 1], width - box_tensor[:, 0],
                 box_tensor[:, 3]], dim=1)  # fmt: skip
        target = {
            "boxes": box_tensor,
            "labels": torch.tensor(labels, dtype=torch.long),
            "image_id": int(info["id"]),
            "scale": float(scale),
        }
        return image, target


def collate(batch: list) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack images; keep targets as a list (each image has its own number of boxes)."""
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)
