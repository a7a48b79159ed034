"""Finding and opening image files: expansion order, one extension list, one-line errors."""

import io
import struct
import zlib

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
from effnet.data.preprocess import to_rgb


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


def png_header(path, width, height, bit_depth=8, colour_type=0):
    """A PNG that announces ``width x height`` pixels and holds almost nothing (a bomb when big)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 101)  # the start of a row: the rest is missing
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def test_a_decompression_bomb_is_an_unreadable_image_named_by_its_file(tmp_path):
    bomb = png_header(tmp_path / "bomb.png", 100_000, 100_000)  # 10 gigapixels, 150 bytes
    assert bomb.stat().st_size < 1000
    with pytest.raises(UNREADABLE, match="too large to decode safely"):
        decode_image(bomb)
    with pytest.raises(ValueError, match=r"bomb.png is not a readable image \(image too large"):
        open_image(bomb)


def grey(value, dtype, path):
    Image.fromarray(np.full((6, 6), value, dtype)).save(path)
    return path


@pytest.mark.parametrize(
    ("value", "dtype", "name", "expected"),
    [
        (32896, np.uint16, "mid.png", 128),  # 16-bit PNG: was clipped to 255 (all white)
        (65535, np.uint16, "white.png", 255),
        (1000, np.uint16, "dark.tif", 4),
        (0.5, np.float32, "half.tif", 128),  # float in [0, 1]: was 0 or 1 of 255 (all black)
        (1.0, np.float32, "one.tif", 255),
        (200.0, np.float32, "f255.tif", 200),  # float in [0, 255]
        (100_00, np.int32, "i32.tif", 39),  # 32-bit integers that fit 16 bits
        (200, np.int32, "i8.tif", 200),  # ... or 8 bits
    ],
)
def test_wide_images_are_scaled_to_8_bits_by_their_range(tmp_path, value, dtype, name, expected):
    image = open_image(grey(value, dtype, tmp_path / name))
    assert image.mode == "L"
    assert to_rgb(image).getpixel((0, 0)) == (expected,) * 3


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        (-0.5, np.float32, r"floating-point image with values in \[-0.5, -0.5\]"),
        (300.0, np.float32, r"floating-point image with values in \[300, 300\]: no known"),
        (np.nan, np.float32, "floating-point image holds NaN or infinite values"),
        (70_000, np.int32, r"32-bit integer image with values in \[70000, 70000\]"),
    ],
)
def test_wide_images_without_a_known_range_are_refused(tmp_path, value, dtype, message):
    path = grey(value, dtype, tmp_path / "odd.tif")
    with pytest.raises(ValueError, match=r"odd.tif is not a readable image \(" + message):
        open_image(path)
