"""Request-body parsing (pure): content types, the tensor header, image headers."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin.bundle import InputSpec
from gateway import InferRequestError, MalformedInput, UnsupportedContentType
from gateway.serve import (
    CT_JPEG,
    CT_OCTET,
    CT_PNG,
    CT_TENSOR,
    MAX_IMAGE_PIXELS,
    EncodedImage,
    TensorInput,
    encode_tensor,
    parse_body,
    parse_tensor,
)
from gateway.serve._codec import jpeg_size, media_type, parse_shape_header, png_size

SPEC = InputSpec(64, 64)
RNG = np.random.default_rng(7)


def _image(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(("header", "expected"), [
    ("image/png", "image/png"), ("Image/PNG; q=1", "image/png"), ("  ", None), (None, None),
    ("application/x-aiotwin-tensor;v=1", "application/x-aiotwin-tensor"),
])
def test_media_type(header, expected):
    assert media_type(header) == expected


@pytest.mark.parametrize(("h", "w"), [(1, 1), (37, 91), (64, 64), (300, 20)])
def test_image_sizes_are_read_from_real_encoder_output(h, w):
    image = _image(h, w)
    assert png_size(_encode(".png", image)) == (w, h)
    assert jpeg_size(_encode(".jpg", image)) == (w, h)
    assert jpeg_size(_encode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])) == (w, h)


def test_parse_body_images():
    image = _image(40, 50)
    got = parse_body(CT_PNG, _encode(".png", image), None, SPEC)
    assert isinstance(got, EncodedImage)
    assert (got.kind, got.width, got.height) == ("png", 50, 40)
    got = parse_body(CT_JPEG + "; charset=binary", _encode(".jpg", image), None, SPEC)
    assert isinstance(got, EncodedImage)
    assert got.kind == "jpeg"


def test_a_decompression_bomb_is_refused_from_its_header():
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", side, side) + b"\x08\x02\0\0\0"
    with pytest.raises(MalformedInput, match="exceeds"):
        parse_body(CT_PNG, header + b"\0" * 16, None, SPEC)


def test_tensor_round_trip_and_octet_stream():
    array = _image(64, 64)
    got = parse_body(CT_TENSOR, encode_tensor(array), None, SPEC)
    assert isinstance(got, TensorInput)
    assert np.array_equal(got.array, array)
    got = parse_body(CT_OCTET, array.tobytes(), "64, 64, 3", SPEC)
    assert isinstance(got, TensorInput)
    assert np.array_equal(got.array, array)


@pytest.mark.parametrize(("body", "match"), [
    (b"ATWT", "shorter"),
    (b"XXXX" + bytes(8), "magic"),
    (struct.pack("<4sBBHHH", b"ATWT", 2, 1, 64, 64, 3), "version"),
    (struct.pack("<4sBBHHH", b"ATWT", 1, 1, 32, 32, 3) + bytes(32 * 32 * 3), "shape 32×32×3"),
    (struct.pack("<4sBBHHH", b"ATWT", 1, 1, 64, 64, 3) + bytes(10), "bytes"),
])
def test_malformed_tensors(body, match):
    with pytest.raises(MalformedInput, match=match):
        parse_tensor(body, SPEC)


@pytest.mark.parametrize("text", [None, "", "64,64", "64,64,3,1", "64,x,3", "-1,64,3", "64,64,3.0", "١٢,64,3"])
def test_bad_shape_headers(text):
    with pytest.raises(MalformedInput):
        parse_shape_header(text)


@pytest.mark.parametrize(("ct", "body", "shape", "error"), [
    (None, b"x", None, UnsupportedContentType),
    ("text/plain", b"x", None, UnsupportedContentType),
    (CT_PNG, b"", None, MalformedInput),
    (CT_PNG, b"GIF89a" + bytes(30), None, MalformedInput),
    (CT_JPEG, b"\xff\xd8\xff\xd9", None, MalformedInput),
    (CT_OCTET, bytes(64 * 64 * 3), None, MalformedInput),
    (CT_OCTET, bytes(10), "64,64,3", MalformedInput),
    (CT_OCTET, bytes(48), "4,4,3", MalformedInput),
])
def test_rejections_carry_their_status(ct, body, shape, error):
    with pytest.raises(error) as info:
        parse_body(ct, body, shape, SPEC)
    assert info.value.status == (415 if error is UnsupportedContentType else 400)


CTS = st.one_of(st.none(), st.sampled_from([CT_PNG, CT_JPEG, CT_TENSOR, CT_OCTET, "text/plain", ""]),
                st.text(max_size=30))
BODIES = st.one_of(st.binary(max_size=200), st.binary(max_size=60).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
                   st.binary(max_size=60).map(lambda b: b"\xff\xd8" + b),
                   st.binary(max_size=60).map(lambda b: b"ATWT" + b))


@given(ct=CTS, body=BODIES, shape=st.one_of(st.none(), st.text(max_size=12), st.just("64,64,3")))
def test_any_body_parses_or_is_rejected_with_a_request_error(ct, body, shape):
    status = 200
    try:
        got = parse_body(ct, body, shape, SPEC)
    except InferRequestError as exc:
        status = exc.status
    else:
        assert isinstance(got, EncodedImage | TensorInput)
    assert status == 200 or 400 <= status < 500
