"""The transport encoding of one update: round trips, a strict parser, and fuzzing."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aiotwin.fl import (
    Update,
    UpdateMalformed,
    UpdateMessage,
    UpdateRejected,
    UpdateTooLarge,
    decode_update,
    encode_update,
    wire,
)
from tests.aiotwin.fl.helpers import SHAPES, flat, model

PREFIX = struct.Struct("<4sBI")


def message(values: float = 1.5, shapes: list[tuple[int, ...]] = SHAPES, **kw: Any) -> UpdateMessage:
    u = Update(kw.pop("client", "cam-7"), kw.pop("version", "v12"), kw.pop("n", 42), model(values, shapes))
    return UpdateMessage(kw.pop("run", "run-a"), kw.pop("round", 4), u)


def frame(
    header: dict[str, Any] | bytes, payload: bytes = b"", *, magic: bytes = b"AFLU", version: int = 1,
    length: int | None = None,
) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return PREFIX.pack(magic, version, len(raw) if length is None else length) + raw + payload


def header(**over: Any) -> dict[str, Any]:
    h = {"run": "r", "round": 0, "client": "c", "base_version": "v1", "num_examples": 1, "dtype": "<f4",
         "shapes": [[2]]}
    h.update(over)
    return {k: v for k, v in h.items() if v is not DROP}


DROP = object()
TWO = np.array([1.0, 2.0], "<f4").tobytes()


def test_round_trip_keeps_everything():
    msg = message()
    data = encode_update(msg)
    back = decode_update(data)
    assert (back.run_id, back.round) == ("run-a", 4)
    u = back.update
    assert (u.client_id, u.base_version, u.num_examples) == ("cam-7", "v12", 42)
    assert [a.shape for a in u.delta] == SHAPES
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in u.delta)
    np.testing.assert_array_equal(flat(u.delta), flat(msg.update.delta))


def test_the_encoding_is_compact_and_starts_with_magic_and_version():
    data = encode_update(message(shapes=[(1000,)]))
    assert data[:5] == b"AFLU\x01"
    assert len(data) - 4000 < 200  # header overhead only


@pytest.mark.parametrize("shapes", [[], [()], [(0,)], [(3, 0, 2)], [(1,) * 10], [(2, 3), (), (4,)]])
def test_round_trip_of_unusual_layouts(shapes):
    back = decode_update(encode_update(message(shapes=shapes)), expected_shapes=shapes)
    assert [a.shape for a in back.update.delta] == shapes


SHAPE = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ARRAY = SHAPE.flatmap(lambda s: hnp.arrays(np.float32, s, elements=st.floats(allow_nan=False, allow_infinity=False,
                                                                             width=32)))
IDENT = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"], include_characters=" "), min_size=1,
                max_size=20)


@settings(max_examples=100, deadline=None)
@given(arrays=st.lists(ARRAY, max_size=5), run=IDENT, client=IDENT, version=IDENT,
       rnd=st.integers(0, 2**40), n=st.integers(1, 2**40))
def test_round_trip_property(arrays, run, client, version, rnd, n):
    msg = UpdateMessage(run, rnd, Update(client, version, n, arrays))
    back = decode_update(encode_update(msg))
    assert (back.run_id, back.round, back.update.client_id, back.update.base_version, back.update.num_examples) == (
        run, rnd, client, version, n)
    assert len(back.update.delta) == len(arrays)
    for a, b in zip(arrays, back.update.delta, strict=True):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_float64_and_int_arrays_are_sent_as_float32():
    u = Update("c", "v1", 1, [np.array([0.1, 2.0]), np.array([3, 4], np.int32)])
    back = decode_update(encode_update(UpdateMessage("r", 0, u))).update
    np.testing.assert_array_equal(back.delta[0], np.array([0.1, 2.0], np.float32))
    np.testing.assert_array_equal(back.delta[1], [3.0, 4.0])


@pytest.mark.parametrize(
    ("delta", "match"),
    [
        ([np.array([1.0, np.nan])], "array 0 has non-finite values"),
        ([np.array([1e300])], "too big for float32"),
        ([np.array(["a"])], "array 0 is not a numeric numpy array"),
        ([[1.0, 2.0]], "array 0 is not a numeric numpy array"),
    ],
)
def test_encode_refuses_what_the_parser_would_reject(delta, match):
    with pytest.raises(UpdateMalformed, match=match):
        encode_update(UpdateMessage("r", 0, Update("c", "v1", 1, delta)))


@pytest.mark.parametrize(
    ("over", "match"),
    [({"client": ""}, "client must be a printable string"), ({"round": -1}, "round must be an integer ≥ 0"),
     ({"num_examples": 0}, "num_examples must be an integer ≥ 1"), ({"run": "a\nb"}, "run must be")],
)
def test_encode_validates_the_header_too(over, match):
    kw = {"client": "c", "round": 0, "n": 1, "run": "r", **{("n" if k == "num_examples" else k): v
                                                              for k, v in over.items()}}
    with pytest.raises(UpdateMalformed, match=match):
        encode_update(message(**kw))


# -- the strict parser ---------------------------------------------------------------------------

MALFORMED = {
    "empty": (b"", "truncated: 0 bytes, shorter than the 9-byte prefix"),
    "short-prefix": (b"AFLU\x01\x00", "truncated"),
    "magic": (frame(header(), TWO, magic=b"PK\x03\x04"), r"not an FL update: magic b'PK\\x03\\x04'"),
    "format-version": (frame(header(), TWO, version=2), "unsupported update format version 2 \\(this reader: 1\\)"),
    "header-length-past-end": (frame(header(), TWO, length=10_000), "header length 10000 exceeds the message"),
    "header-length-huge": (frame(header(), TWO, length=2**32 - 1), "exceeds the message or the 1048576-byte limit"),
    "header-not-utf8": (frame(b"\xff\xfe{}"), "header is not UTF-8 JSON"),
    "header-not-json": (frame(b"{run:1}"), "header is not UTF-8 JSON"),
    "header-nan-constant": (frame(b'{"round": NaN}'), "NaN is not allowed"),
    "header-deep-nesting": (frame(b"[" * 100_000), "header is not UTF-8 JSON"),
    "header-not-object": (frame(b"[1, 2]"), "header must be a JSON object, got list"),
    "missing-key": (frame(header(run=DROP), TWO), r"missing \['run'\], unexpected \[\]"),
    "extra-key": (frame({**header(), "pickle": True}, TWO), r"unexpected \['pickle'\]"),
    "round-bool": (frame(header(round=True), TWO), "round must be an integer ≥ 0, got True"),
    "round-str": (frame(header(round="1"), TWO), "round must be an integer"),
    "examples-zero": (frame(header(num_examples=0), TWO), "num_examples must be an integer ≥ 1, got 0"),
    "examples-float": (frame(header(num_examples=1.5), TWO), "num_examples must be an integer ≥ 1, got 1.5"),
    "wrong-dtype": (frame(header(dtype="<f8"), TWO + TWO), "dtype must be '<f4', got '<f8'"),
    "big-endian": (frame(header(dtype=">f4"), TWO), "dtype must be '<f4'"),
    "client-empty": (frame(header(client=""), TWO), "client must be a printable string of 1–256 chars"),
    "client-control-char": (frame(header(client="a\u0000"), TWO), "client must be"),
    "version-not-str": (frame(header(base_version=7), TWO), "base_version must be"),
    "shapes-not-list": (frame(header(shapes={"a": 1}), TWO), "shapes must be a list"),
    "shape-negative": (frame(header(shapes=[[-2]]), TWO), r"shapes\[0\] must be a list of at most 32 integers ≥ 0"),
    "shape-float": (frame(header(shapes=[[2.0]]), TWO), r"shapes\[0\]"),
    "too-many-dims": (frame(header(shapes=[[1] * 33]), TWO), r"shapes\[0\]"),
    "too-many-arrays": (frame(header(shapes=[[0]] * 5000)), "at most 4096 shapes"),
    "truncated-payload": (frame(header(), TWO[:6]), "truncated: payload is 6 bytes, the shapes need 8"),
    "trailing-bytes": (frame(header(), TWO + b"\x00"), "trailing bytes: payload is 9 bytes, the shapes need 8"),
    "extra-array-bytes": (frame(header(), TWO + TWO), "trailing bytes"),
    "huge-shape": (frame(header(shapes=[[2**40, 2**40]]), TWO), "truncated: payload is 8 bytes"),
    "nan-payload": (frame(header(), np.array([1.0, np.nan], "<f4").tobytes()), r"payload has 1 non-finite value\(s\)"),
    "inf-payload": (frame(header(), np.array([np.inf, -np.inf], "<f4").tobytes()), "payload has 2 non-finite"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_raises_update_malformed_with_a_clear_message(case):
    data, match = MALFORMED[case]
    with pytest.raises(UpdateMalformed, match=match):
        decode_update(data)


def test_errors_name_the_client_once_the_header_is_readable():
    with pytest.raises(UpdateMalformed) as info:
        decode_update(frame(header(client="cam-3"), TWO[:4]))
    assert info.value.client_id == "cam-3"
    assert str(info.value).startswith("update from 'cam-3' rejected: truncated")


def test_oversize_is_rejected_before_anything_is_parsed():
    data = encode_update(message(shapes=[(100,)]))
    with pytest.raises(UpdateTooLarge, match=f"update is {len(data)} bytes, the limit is 100"):
        decode_update(data, max_bytes=100)
    with pytest.raises(UpdateTooLarge):
        decode_update(b"\x00" * 101, max_bytes=100)
    assert decode_update(data, max_bytes=len(data)).update.client_id == "cam-7"


def test_expected_shapes_catch_extra_missing_and_reshaped_arrays():
    data = encode_update(message(shapes=[(2, 3), (4,)]))
    decode_update(data, expected_shapes=[(2, 3), (4,)])
    for expected in ([(2, 3)], [(2, 3), (4,), (1,)], [(3, 2), (4,)]):
        with pytest.raises(UpdateMalformed, match=r"arrays \[\(2, 3\), \(4,\)\] do not match the model's"):
            decode_update(data, expected_shapes=expected)


def test_decoded_arrays_are_writable_copies():
    data = bytearray(encode_update(message(shapes=[(3,)])))
    u = decode_update(data).update
    data[-4:] = b"\x00\x00\x00\x00"
    u.delta[0][0] = 9.0  # writable
    assert u.delta[0][2] == np.float32(1.5)  # not a view of the caller's buffer


def test_memoryview_input_is_accepted():
    data = encode_update(message())
    assert decode_update(memoryview(data)).update.client_id == "cam-7"


def test_no_pickle_anywhere():
    text = Path(wire.__file__ or "").read_text(encoding="utf-8")
    assert "pickle" not in text.replace("No pickle is involved anywhere", "")


# -- fuzzing -------------------------------------------------------------------------------------

def rejection(data: bytes, **kw) -> str | None:
    """The reason ``data`` is rejected, or None when it decodes; any other exception fails the test."""
    try:
        decode_update(data, **kw)
    except UpdateRejected as exc:
        return exc.reason
    return None


VALID = encode_update(message(shapes=[(2, 2), (3,)]))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=512))
@example(data=VALID[:9])
@example(data=b"AFLU\x01\x02\x00\x00\x00{}")
def test_arbitrary_bytes_never_raise_anything_but_update_rejected(data):
    assert rejection(data, max_bytes=256) != ""


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(0, len(VALID) - 1), byte=st.integers(0, 255), cut=st.integers(0, len(VALID)),
       junk=st.binary(max_size=8), mode=st.sampled_from(["flip", "cut", "insert"]))
def test_mutated_valid_messages_never_raise_anything_but_update_rejected(pos, byte, cut, junk, mode):
    if mode == "flip":
        data = VALID[:pos] + bytes([byte]) + VALID[pos + 1 :]
    elif mode == "cut":
        data = VALID[:cut]
    else:
        data = VALID[:pos] + junk + VALID[pos:]
    try:
        msg = decode_update(data)
    except UpdateRejected:
        return
    assert all(np.all(np.isfinite(a)) for a in msg.update.delta)
    assert msg.update.num_examples >= 1


@settings(max_examples=150, deadline=None)
@given(h=st.dictionaries(st.sampled_from([*sorted(wire._HEADER_KEYS), "x"]),
                         st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                                      lambda inner: st.lists(inner, max_size=3), max_leaves=6)),
       payload=st.binary(max_size=64))
def test_arbitrary_json_headers_never_raise_anything_but_update_rejected(h, payload):
    try:
        raw = json.dumps(h).encode()
    except ValueError:
        return
    assert rejection(frame(raw, payload)) != ""
