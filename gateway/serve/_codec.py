"""Request bodies → typed payloads, as pure functions over bytes (no OpenCV, no I/O).

``POST /v1/infer/{model}`` takes one crop; the Content-Type says which form:

``image/jpeg``, ``image/png``
    An encoded crop of any size (at most :data:`MAX_IMAGE_PIXELS`). Only the header is read here
    (signature and size, so a decompression bomb is refused before decoding); the worker thread
    decodes it with ``cv2.imdecode`` (BGR) and resizes it to the model input.
``application/x-aiotwin-tensor``
    A 12-byte header then ``height × width × channels`` ``uint8`` bytes, row-major (H, W, C),
    in the bundle's colour order (``manifest.input.color``, RGB for the shipped bundles)::

        offset  size  field
        0       4     magic  b"ATWT"
        4       1     version 1
        5       1     dtype   1 = uint8
        6       2     height   (little-endian uint16)
        8       2     width    (little-endian uint16)
        10      2     channels (little-endian uint16, must be 3)

``application/octet-stream`` with ``X-Tensor-Shape: H,W,C``
    The same bytes without the header.

A tensor must already have the model's input size. Every rejection is a typed
:class:`~gateway._exceptions.InferRequestError` whose ``status`` the HTTP layer answers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from gateway._exceptions import MalformedInput, UnsupportedContentType

if TYPE_CHECKING:
    from aiotwin.bundle import InputSpec

CT_JPEG = "image/jpeg"
CT_PNG = "image/png"
CT_TENSOR = "application/x-aiotwin-tensor"
CT_OCTET = "application/octet-stream"
CONTENT_TYPES: tuple[str, ...] = (CT_JPEG, CT_PNG, CT_TENSOR, CT_OCTET)
TENSOR_SHAPE_HEADER = "X-Tensor-Shape"

TENSOR_MAGIC = b"ATWT"
TENSOR_VERSION = 1
DTYPE_UINT8 = 1
TENSOR_HEADER = struct.Struct("<4sBBHHH")
MAX_IMAGE_PIXELS = 4096 * 4096  # a crop is ~100×100; a 4k×4k "crop" is abuse (decodes to 48 MiB)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

U8Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class EncodedImage:
    """A JPEG or PNG crop whose header checked out; decoding happens in the worker thread."""

    kind: Literal["jpeg", "png"]
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class TensorInput:
    """A model-sized ``H×W×3`` ``uint8`` crop in the bundle's colour order."""

    array: U8Image


Payload = EncodedImage | TensorInput


def media_type(header: str | None) -> str | None:
    """``"image/png; q=1"`` → ``"image/png"``; None or blank → None."""
    if header is None:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        raise MalformedInput("body is not a PNG image (bad signature or IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_segment_size(data: bytes, at: int) -> int:
    if at + 4 > len(data):
        raise MalformedInput("JPEG ends inside a segment header")
    length = int.from_bytes(data[at + 2:at + 4], "big")
    if length < 2:
        raise MalformedInput("JPEG segment length < 2")
    return length


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's first start-of-frame segment."""
    if not data.startswith(JPEG_SOI):
        raise MalformedInput("body is not a JPEG image (no SOI marker)")
    at = 2
    while at + 1 < len(data):
        if data[at] != 0xFF:
            raise MalformedInput(f"JPEG marker expected at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        length = _jpeg_segment_size(data, at)
        if marker in _JPEG_SOF:
            if at + 9 > len(data):
                raise MalformedInput("JPEG ends inside its frame header")
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return int(width), int(height)
        at += 2 + length
    raise MalformedInput("JPEG has no start-of-frame segment")


def _check_pixels(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise MalformedInput(f"image has an empty size {width}×{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise MalformedInput(f"image {width}×{height} exceeds {MAX_IMAGE_PIXELS} pixels")


def parse_image(kind: Literal["jpeg", "png"], data: bytes) -> EncodedImage:
    """Check the signature and size of an encoded crop (decoding is the worker's job)."""
    width, height = png_size(data) if kind == "png" else jpeg_size(data)
    _check_pixels(width, height)
    return EncodedImage(kind, data, width, height)


def _expect_shape(shape: tuple[int, ...], spec: InputSpec) -> None:
    want = (spec.height, spec.width, spec.channels)
    if shape != want:
        got = "×".join(str(d) for d in shape)
        raise MalformedInput(f"tensor shape {got}, this model takes {want[0]}×{want[1]}×{want[2]} uint8")


def _tensor(raw: bytes, offset: int, shape: tuple[int, int, int]) -> TensorInput:
    expected = shape[0] * shape[1] * shape[2]
    if len(raw) - offset != expected:
        raise MalformedInput(f"tensor body has {len(raw) - offset} bytes, shape needs {expected}")
    array = np.frombuffer(raw, dtype=np.uint8, count=expected, offset=offset).reshape(shape)
    return TensorInput(array)


def encode_tensor(array: U8Image) -> bytes:
    """``application/x-aiotwin-tensor`` bytes of an ``H×W×C`` ``uint8`` array."""
    if array.dtype != np.uint8 or array.ndim != 3:
        raise ValueError(f"need an H×W×C uint8 array, got {array.dtype} {array.shape}")
    h, w, c = (int(d) for d in array.shape)
    return TENSOR_HEADER.pack(TENSOR_MAGIC, TENSOR_VERSION, DTYPE_UINT8, h, w, c) + array.tobytes()


def parse_tensor(raw: bytes, spec: InputSpec) -> TensorInput:
    """Parse ``application/x-aiotwin-tensor`` bytes; the shape must be the model's input."""
    if len(raw) < TENSOR_HEADER.size:
        raise MalformedInput(f"tensor body shorter than its {TENSOR_HEADER.size}-byte header")
    magic, version, dtype, h, w, c = TENSOR_HEADER.unpack_from(raw)
    if magic != TENSOR_MAGIC:
        raise MalformedInput(f"tensor magic {magic!r}, expected {TENSOR_MAGIC!r}")
    if version != TENSOR_VERSION or dtype != DTYPE_UINT8:
        raise MalformedInput(f"tensor version {version} dtype {dtype}: only version 1, dtype 1 (uint8)")
    _expect_shape((h, w, c), spec)
    return _tensor(raw, TENSOR_HEADER.size, (h, w, c))


def parse_shape_header(text: str | None) -> tuple[int, int, int]:
    """``"64,64,3"`` → ``(64, 64, 3)``; anything else is :class:`MalformedInput`."""
    if text is None:
        raise MalformedInput(f"application/octet-stream needs an {TENSOR_SHAPE_HEADER}: H,W,C header")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
        raise MalformedInput(f"{TENSOR_SHAPE_HEADER} must be three integers H,W,C, got {text[:40]!r}")
    h, w, c = (int(p) for p in parts)
    return h, w, c


def parse_body(content_type: str | None, body: bytes, shape_header: str | None, spec: InputSpec) -> Payload:
    """Turn one request into a payload, or raise the :class:`InferRequestError` to answer."""
    kind = media_type(content_type)
    if kind is None:
        raise UnsupportedContentType(f"a Content-Type is required: one of {', '.join(CONTENT_TYPES)}")
    if kind not in CONTENT_TYPES:
        raise UnsupportedContentType(f"Content-Type {kind!r} is not one of {', '.join(CONTENT_TYPES)}")
    if not body:
        raise MalformedInput("the request has no body")
    if kind == CT_PNG:
        return parse_image("png", body)
    if kind == CT_JPEG:
        return parse_image("jpeg", body)
    if kind == CT_TENSOR:
        return parse_tensor(body, spec)
    shape = parse_shape_header(shape_header)
    _expect_shape(shape, spec)
    return _tensor(body, 0, shape)


__all__ = [
    "CONTENT_TYPES", "CT_JPEG", "CT_OCTET", "CT_PNG", "CT_TENSOR", "DTYPE_UINT8", "JPEG_SOI", "MAX_IMAGE_PIXELS",
    "PNG_SIGNATURE", "TENSOR_HEADER", "TENSOR_MAGIC", "TENSOR_SHAPE_HEADER", "TENSOR_VERSION", "EncodedImage",
    "Payload", "TensorInput", "U8Image", "encode_tensor", "jpeg_size", "media_type", "parse_body", "parse_image",
    "parse_shape_header", "parse_tensor", "png_size",
]
