"""An HTTP request -> the pixels a model takes, or a :class:`RequestError` saying what is wrong.

Everything a client sends is bounded before it is trusted: the declared and the actual body size
(read in chunks, stopped at the limit), the content type, the image's pixel count (read from its
header, before any pixel is decoded) and its integrity (a truncated file fails here, not in the
engine). Nothing from a request is unpickled or evaluated; bytes go to PIL's decoders only.
"""

from __future__ import annotations

import hmac
import io
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ..data.images import UNREADABLE, decode_image
from ..data.preprocess import Preprocess, eval_crop

#: The multipart field that carries the image.
FILE_FIELD = "file"


class RequestError(Exception):
    """A request the service refuses: its HTTP status and a one-line reason for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Upload:
    """The image bytes of one request and how many classes it asked for."""

    data: bytes
    top_k: int


def check_api_key(request: Request, key: str | None) -> None:
    """401 unless ``Authorization: Bearer <key>`` (compared in constant time) when a key is set."""
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise RequestError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")


def top_k_of(request: Request, default: int, classes: int) -> int:
    """``?top_k=N``: a positive integer, capped at the number of classes."""
    text = request.query_params.get("top_k")
    if text is None:
        return min(default, classes)
    if not text.isdigit() or int(text) < 1:
        raise RequestError(400, f"top_k must be a positive integer, got {text!r}")
    return min(int(text), classes)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it (or its Content-Length) passes ``limit`` bytes.

    The rest of an oversized body (up to :data:`DRAIN_BYTES`) is read and dropped before the
    answer, so that a client still sending gets the 413 instead of a broken connection; memory
    stays bounded by ``limit`` either way.
    """
    declared = request.headers.get("content-length")
    declared_size = int(declared) if declared is not None and declared.isdigit() else 0
    if declared_size > DRAIN_BYTES:  # not worth reading to the end: answer at once
        raise RequestError(413, f"body of {declared_size:,} bytes is over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit and declared_size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_BYTES:
            break
    if size > limit or declared_size > limit:
        shown = f"{max(declared_size, size):,}"
        raise RequestError(413, f"body of {shown} bytes is over the limit of {limit:,}")
    return b"".join(chunks)


#: How much of an oversized body is read (and dropped) so its client can read the 413.
DRAIN_BYTES = 64 << 20


async def image_bytes(request: Request, limit: int) -> bytes:
    """The image of a request: the raw body for ``image/*``, field ``file`` for multipart."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind == "multipart/form-data"):
        shown = kind or "none"
        raise RequestError(
            415,
            f"content type {shown} is not an image: send the image as the body with an image/* "
            f"content type, or as the multipart field '{FILE_FIELD}'",
        )
    body = await read_body(request, limit)
    if not body:
        raise RequestError(400, "empty body: send an image")
    if kind.startswith("image/"):
        return body
    return await _multipart_file(request, body, limit)


async def _multipart_file(request: Request, body: bytes, limit: int) -> bytes:
    """Field ``file`` of a multipart body already read (and bounded) by :func:`read_body`."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_part_size=limit)
    except Exception as err:  # starlette's MultiPartException and parser errors alike
        raise RequestError(400, f"malformed multipart body ({err})") from None
    field = form.get(FILE_FIELD)
    if field is None or isinstance(field, str):
        raise RequestError(400, f"multipart body has no file field '{FILE_FIELD}'")
    data = await field.read()
    await form.close()
    if not data:
        raise RequestError(400, f"the multipart field '{FILE_FIELD}' is empty")
    return data


def decode_upload(data: bytes, max_pixels: int) -> Any:
    """The decoded PIL image; 413 when its header declares more than ``max_pixels``, 400 when it
    is not an image or is damaged (truncated, corrupt)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Image.DecompressionBombError:
        raise RequestError(413, f"image is over the limit of {max_pixels:,} pixels") from None
    except UNREADABLE as err:
        raise RequestError(400, f"not an image ({_reason(err)})") from None
    if width * height > max_pixels:
        raise RequestError(
            413, f"image of {width}x{height} pixels is over the limit of {max_pixels:,} pixels"
        )
    try:
        return decode_image(io.BytesIO(data))
    except UNREADABLE as err:
        raise RequestError(400, f"damaged image ({_reason(err)})") from None


def prepare(data: bytes, pre: Preprocess, max_pixels: int) -> Any:
    """Image bytes -> the model's uint8 pixels ``(H, W, C)`` (decoded, resized, cropped)."""
    import numpy as np

    pixels = np.asarray(eval_crop(pre)(decode_upload(data, max_pixels)), dtype=np.uint8)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _reason(err: BaseException) -> str:
    """PIL's message without the in-memory file's repr it names (``<_io.BytesIO object ...>``)."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", text)[:200]
