"""COCO-format detection folders: ``annotations.json`` plus the images it names.

A folder holds ``annotations.json`` (COCO's ``images`` / ``annotations`` / ``categories``) and the
images, under ``images/`` or beside the file. :class:`CocoFolder` yields each image resized (its
longer side to ``image_size``, aspect kept) and padded bottom-right to a square, with its boxes in
that input's pixels (x1, y1, x2, y2) and 0-based labels. ``scale`` maps input pixels back to the
original image, which is where COCO evaluation compares.

The file is checked first (:mod:`.validation`: boxes past the border clipped and counted, any
other fault refused). Labels follow ``class_names`` when given (a checkpoint's or the training
set's classes), matched by category NAME, so a folder that numbers the same categories in another
order trains and scores the same; a folder whose names differ is refused, naming them. Without
``class_names`` the labels follow the category ids' order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data.images import open_image
from ..data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from .validation import read_annotations


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
        class_names: list[str] | None = None,
    ) -> None:
        self.root = Path(root)
        path = self.root / "annotations.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root} has no annotations.json (a COCO-format folder)")
        checked = read_annotations(path)
        self.coco, self.clipped = checked.coco, checked.clipped
        self.image_size, self.mean, self.std, self.hflip = image_size, mean, std, hflip
        self.categories = _in_label_order(path, self.coco["categories"], class_names)
        #: label -> category id (None: a label no category uses) and label -> name
        self.category_ids = [c["id"] if c else None for c in self.categories]
        self.class_names = [c["name"] if c else UNUSED for c in self.categories]
        self.images = sorted(self.coco["images"], key=lambda i: i["id"])
        self.objects: dict[int, list[dict]] = {i["id"]: [] for i in self.images}
        for ann in self.coco["annotations"]:
            if not ann["iscrowd"]:
                self.objects[ann["image_id"]].append(ann)
        folder = self.root / "images"
        self.image_dir = folder if folder.is_dir() else self.root
        for index, info in enumerate(self.coco["images"]):
            if not _is_file(self.image_dir / info["file_name"]):
                raise FileNotFoundError(
                    f"{path}: images[{index}] (id {info['id']}) names "
                    f"{self.image_dir / info['file_name']}, which does not exist"
                )

    def note(self) -> str | None:
        """The line that says how many boxes were clipped to their image (None: none were)."""
        if not self.clipped:
            return None
        path = self.root / "annotations.json"
        return f"note: {path}: {self.clipped} boxes reaching past their image were clipped to it"

    def __len__(self) -> int:
        return len(self.images)

    def annotated_image(self, info: dict[str, Any]) -> Any:
        """The image as its boxes were drawn: upright by its EXIF tag, as every command reads
        images, unless the size the annotations declare is that of the stored pixels (tools
        differ; a rotation by 90 degrees tells them apart, and 180 is read upright)."""
        path = self.image_dir / info["file_name"]
        declared = (info["width"], info["height"])
        img = open_image(path)
        if img.size != declared:
            stored = open_image(path, orient=False)
            if stored.size != declared:
                raise ValueError(
                    f"{self.root / 'annotations.json'}: image {info['id']} ({info['file_name']}) "
                    f"is {img.width}x{img.height}, not the {declared[0]}x{declared[1]} it says"
                )
            img = stored
        return img

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Image ``item`` (an index, or the training loop's (index, augmentation seed): its flip
        is then a pure function of the seed, so a resumed run replays it)."""
        index, seed = item if isinstance(item, tuple) else (item, None)
        info = self.images[index]
        img = self.annotated_image(info)
        image, scale = letterbox(img, self.image_size, self.mean, self.std)
        width = img.width * scale
        boxes, labels = [], []
        for ann in self.objects[info["id"]]:
            x, y, w, h = ann["bbox"]
            boxes.append([x * scale, y * scale, (x + w) * scale, (y + h) * scale])
            labels.append(self.category_ids.index(ann["category_id"]))
        box_tensor = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        if self.hflip and _coin(seed):
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


def _coin(seed: int | None) -> bool:
    """Heads with probability 0.5: from ``seed`` alone, or from torch's generator without one."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return bool(torch.rand((), generator=generator) < 0.5)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is no file either
        return False


#: A class name that marks an unused label, never matched to a category (COCO's 90-id layout, as
#: the published detectors use it, names its 10 unused ids so).
UNUSED = "N/A"


def _in_label_order(
    path: Path, categories: list[dict[str, Any]], class_names: list[str] | None
) -> list[dict[str, Any] | None]:
    """The categories in label order: ``class_names``' order by name (None for an unused
    label), else by id."""
    if class_names is None:
        return sorted(categories, key=lambda c: c["id"])
    by_name = {c["name"]: c for c in categories}
    used = [name for name in class_names if name != UNUSED]
    extra = sorted(set(by_name) - set(used))
    missing = [name for name in used if name not in by_name]
    twice = sorted({name for name in used if used.count(name) > 1})
    if extra or missing or twice:
        parts = [f"categories the model lacks: {extra}" if extra else "",
                 f"none named {missing}, which the model has" if missing else "",
                 f"model classes named twice: {twice}" if twice else ""]  # fmt: skip
        raise ValueError(
            f"{path}: its categories are not the model's classes ("
            + "; ".join(p for p in parts if p)
            + "); categories are matched by name"
        )
    return [by_name.get(name) for name in class_names]


def collate(batch: list) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack images; keep targets as a list (each image has its own number of boxes)."""
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)
