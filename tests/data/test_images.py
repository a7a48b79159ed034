"""Finding and opening image files: expansion order, one extension list, one-line errors."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from effnet.data.images import (
    IMAGE_EXTENSIONS,
    UNREADABLE,
    collect_images,
    decode_image,
    images_under,
    is_image_file,
    open_image,
)


def photo(size=40):
    return Image.fromarray(skdata.chelsea()).resize((size, size))


def truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray(skdata.coffee()).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def test_collect_images_expands_folders_and_globs_in_order(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "b.png"
    found = collect_images([str(single), str(tmp_path), str(tmp_path / "*.png")])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["b.png", "a.jpg", "sub/c.png"]  # typed order, folder sorted, no duplicates


def test_a_folders_own_files_come_before_its_sub_folders(tmp_path):
    """torchvision ImageFolder's order (sorted os.walk), which training's hold-out depends on."""
    for name in ("b.png", "a/z.png", "a/b/c.png", "c.JPG", "a/readme.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        photo().save(tmp_path / name, format="PNG")
    names = [p.relative_to(tmp_path).as_posix() for p in images_under(tmp_path)]
    assert names == ["b.png", "c.JPG", "a/z.png", "a/b/c.png"]


def test_one_extension_list_holds_torchvisions_and_gif():
    from torchvision.datasets.folder import IMG_EXTENSIONS

    assert set(IMG_EXTENSIONS) <= set(IMAGE_EXTENSIONS)
    assert ".gif" in IMAGE_EXTENSIONS
    assert is_image_file("x/Photo.JPEG") and is_image_file("scan.pgm")
    assert not is_image_file("notes.txt") and not is_image_file("archive.png.zip")


def test_user_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"no images given"):
        collect_images([])
    with pytest.raises(FileNotFoundError, match=r"nope.png does not exist"):
        collect_images([str(tmp_path / "nope.png")])
    with pytest.raises(FileNotFoundError, match=r"no image files match"):
        collect_images([str(tmp_path / "*.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no images in folder .*empty \(looked for .jpg"):
        collect_images([str(tmp_path / "empty")])


def test_open_image_decodes_fully_and_keeps_the_mode(tmp_path):
    photo().convert("L").save(tmp_path / "gray.png")
    photo().convert("P").save(tmp_path / "palette.png")
    photo().save(tmp_path / "photo.jpg", quality=90)
    names = ("gray.png", "palette.png", "photo.jpg")
    gray, palette, jpeg = (open_image(tmp_path / name) for name in names)
    assert gray.mode == "L" and jpeg.mode == "RGB" and jpeg.size == (40, 40)
    assert palette.mode == "RGBA"  # transparency of a palette survives for to_rgb
    assert np.asarray(jpeg).std() > 10  # real pixels, decoded (file already closed)


def test_unreadable_files_are_one_line_naming_the_file(tmp_path):
    broken = truncated_jpeg(tmp_path / "broken.jpg")
    text = tmp_path / "notes.png"
    text.write_text("not pixels")
    with pytest.raises(ValueError, match=r"broken.jpg is not a readable image \(.*truncated"):
        open_image(broken)
    with pytest.raises(ValueError, match=r"notes.png is not a readable image"):
        open_image(text)
    with pytest.raises(FileNotFoundError, match=r"gone.png does not exist"):
        open_image(tmp_path / "gone.png")
    # decode_image gives the decoder's own error, for callers that skip and say why.
    with pytest.raises(UNREADABLE, match=r"truncated"):
        decode_image(broken)
