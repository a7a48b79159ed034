"""The one image-folder reader of training and eval: torchvision's order, checked layouts."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from effnet.data.folders import (
    ImageFolder,
    class_folders,
    image_folder_splits,
    training_root,
)
from effnet.data.images import IMAGE_EXTENSIONS
from effnet.data.loading import Skipped, TransformedSubset
from effnet.data.preprocess import Preprocess, eval_transform

PHOTOS = {"cat": skdata.chelsea, "coffee": skdata.coffee, "person": skdata.astronaut}


def save(path, image, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)


def crop(name, i, size=32):
    """A real photograph, cropped at a different place for each i."""
    pixels = PHOTOS[name]()
    y, x = 17 * i % 200, 29 * i % 200
    return Image.fromarray(pixels[y : y + 250, x : x + 250]).resize((size, size))


@pytest.fixture
def tree(tmp_path):
    """cat/ with a nested folder and mixed-case extensions, coffee/, and a non-image file."""
    root = tmp_path / "photos"
    for i, name in enumerate(("b.png", "A.JPG", "sub/c.png", "d.gif", "e.pgm")):
        image = crop("cat", i)
        save(root / "cat" / name, image.convert("L") if name.endswith(".pgm") else image)
    for i in range(3):
        save(root / "coffee" / f"{i}.png", crop("coffee", i))
    (root / "coffee" / "notes.txt").write_text("not an image")
    return root


def test_samples_are_in_torchvisions_order_with_one_extension_list(tree):
    from torchvision.datasets.folder import make_dataset

    folder = ImageFolder(tree)
    assert folder.classes == ["cat", "coffee"]
    assert folder.class_to_idx == {"cat": 0, "coffee": 1}
    expected = make_dataset(str(tree), folder.class_to_idx, extensions=IMAGE_EXTENSIONS)
    assert folder.samples == expected  # the order training's minival hold-out is drawn from
    names = [p.split("photos/")[1] for p, _ in folder.samples]
    assert names[:5] == ["cat/A.JPG", "cat/b.png", "cat/d.gif", "cat/e.pgm", "cat/sub/c.png"]
    assert folder.targets == [0] * 5 + [1] * 3


def test_samples_are_decoded_photos_with_their_labels(tree):
    folder = ImageFolder(tree)
    image, label = folder[len(folder) - 1]
    assert label == 1 and image.size == (32, 32) and image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(folder.samples[-1][0])))
    gray, _ = folder[3]  # the .pgm
    assert gray.mode == "L"
    assert folder.describe(0).endswith("cat/A.JPG")


def test_labels_follow_a_checkpoints_class_names_not_folder_order(tree):
    names = ["person", "coffee", "dog", "cat"]
    folder = ImageFolder(tree, class_to_idx={n: i for i, n in enumerate(names)})
    assert set(folder.targets) == {3, 1}  # cat -> 3, coffee -> 1
    assert folder[0][1] == 3 and folder[len(folder) - 1][1] == 1


def test_unreadable_image_becomes_a_skipped_sample_naming_it(tree):
    buffer = io.BytesIO()
    crop("coffee", 9, size=64).save(buffer, format="JPEG")
    broken = tree / "coffee" / "broken.jpg"
    broken.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    folder = ImageFolder(tree)
    dataset = TransformedSubset(folder, range(len(folder)), eval_transform(Preprocess(16)), [])
    items = [dataset[i] for i in range(len(dataset))]
    skipped = [item for item in items if isinstance(item, Skipped)]
    assert [s.source for s in skipped] == [str(broken)]
    assert skipped[0].reason.startswith("OSError:") and "truncated" in skipped[0].reason
    assert sum(1 for item in items if not isinstance(item, Skipped)) == 8


def test_layout_errors_say_what_the_layout_should_be(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data folder .*nothing does not exist"):
        ImageFolder(tmp_path / "nothing")
    save(tmp_path / "loose" / "a.png", crop("cat", 0))
    save(tmp_path / "loose" / "b.png", crop("cat", 1))
    with pytest.raises(NotADirectoryError, match=r"not a folder; expected an ImageFolder tree"):
        ImageFolder(tmp_path / "loose" / "a.png")
    with pytest.raises(ValueError, match=r"no class folders in .*loose \(2 images lie loose"):
        ImageFolder(tmp_path / "loose")
    (tmp_path / "textonly" / "cat").mkdir(parents=True)
    (tmp_path / "textonly" / "cat" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images in the class folders .*looked for .jpg"):
        ImageFolder(tmp_path / "textonly")


def test_classes_without_images_or_unknown_to_the_model(tree):
    (tree / "dog").mkdir()
    with pytest.raises(ValueError, match=r"class folder.* dog .*hold no images"):
        ImageFolder(tree)  # training: a class without examples cannot be learned
    scored = ImageFolder(tree, class_to_idx={"cat": 0, "coffee": 1, "dog": 2})
    assert len(scored) == 8  # eval: an empty folder adds nothing
    with pytest.raises(ValueError, match=r"class folder.* dog .* are not classes of the model"):
        ImageFolder(tree, class_to_idx={"cat": 0, "coffee": 1})


def test_splits_share_class_folders(tmp_path):
    for split, count in (("train", 3), ("val", 1)):
        for name in ("cat", "coffee"):
            for i in range(count):
                save(tmp_path / "d" / split / name / f"{i}.png", crop(name, i))
    train, test = image_folder_splits(str(tmp_path / "d"))
    assert (len(train), len(test)) == (6, 2) and train.classes == test.classes
    assert training_root(tmp_path / "d") == tmp_path / "d" / "train"
    assert class_folders(tmp_path / "d" / "val") == ["cat", "coffee"]
    only_train, none = image_folder_splits(str(tmp_path / "d" / "train"))
    assert none is None and len(only_train) == 6
    save(tmp_path / "d" / "val" / "person" / "0.png", crop("person", 0))
    with pytest.raises(ValueError, match=r"both splits need the same class folders"):
        image_folder_splits(str(tmp_path / "d"))
    with pytest.raises(ValueError, match=r"needs data_dir"):
        image_folder_splits(None)
    with pytest.raises(FileNotFoundError, match=r"does not exist or is not a folder"):
        image_folder_splits(str(tmp_path / "missing"))
