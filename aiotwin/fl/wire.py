"""Transport encoding of one FL update: a small JSON header plus raw little-endian float32.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"AFLU"
    4       1     format version (FORMAT_VERSION)
    5       4     header length H (uint32)
    9       H     header: UTF-8 JSON object, exactly the keys
                  run, round, client, base_version, num_examples, dtype ("<f4"), shapes
    9+H     ...   payload: the arrays in header order, C order, float32 LE, no padding;
                  exactly 4·Σ prod(shape) bytes

The parser trusts nothing: size is checked before anything is read, the header's keys and types
exactly, the payload length against the shapes before any array is built, and every value for
finiteness. Whatever is wrong raises :class:`UpdateTooLarge` or :class:`UpdateMalformed` (both
:class:`UpdateRejected`), never another exception. No pickle is involved anywhere.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.fl._exceptions import UpdateMalformed, UpdateTooLarge
from aiotwin.fl.aggregation import DEFAULT_MAX_UPDATE_BYTES, Update
from aiotwin.fl.rules import AnyArray, Weights

MAGIC = b"AFLU"
FORMAT_VERSION = 1
DTYPE = "<f4"
MAX_HEADER_BYTES = 1024 * 1024
MAX_ARRAYS = 4096
MAX_NDIM = 32  # numpy's own limit is 64
MAX_ID_CHARS = 256
_PREFIX = struct.Struct("<4sBI")
_HEADER_KEYS = frozenset({"run", "round", "client", "base_version", "num_examples", "dtype", "shapes"})


@dataclass(frozen=True, eq=False)
class UpdateMessage:
    """An :class:`Update` addressed to one round of one FL run."""

    run_id: str
    round: int
    update: Update


def encode_update(message: UpdateMessage) -> bytes:
    """Serialise ``message``; raises :class:`UpdateMalformed` for arrays that are not finite float32."""
    u = message.update
    arrays = [_to_f32(i, a, u.client_id) for i, a in enumerate(u.delta)]
    header = {
        "run": message.run_id, "round": message.round, "client": u.client_id, "base_version": u.base_version,
        "num_examples": int(u.num_examples) if isinstance(u.num_examples, np.integer) else u.num_examples,
        "dtype": DTYPE, "shapes": [list(a.shape) for a in arrays],
    }
    _check_header(header)
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return b"".join([_PREFIX.pack(MAGIC, FORMAT_VERSION, len(raw)), raw, *(a.astype(DTYPE).tobytes() for a in arrays)])


def _to_f32(i: int, a: AnyArray, cid: str) -> npt.NDArray[np.float32]:
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu":
        raise UpdateMalformed(f"array {i} is not a numeric numpy array", client_id=cid)
    with np.errstate(over="ignore"):
        out = np.array(a, dtype=np.float32, order="C")
    if not np.all(np.isfinite(out)):
        raise UpdateMalformed(f"array {i} has non-finite values (NaN/inf, or too big for float32)", client_id=cid)
    return out


def decode_update(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_UPDATE_BYTES,
    expected_shapes: Sequence[tuple[int, ...]] | None = None,
) -> UpdateMessage:
    """Parse bytes from :func:`encode_update`; with ``expected_shapes``, the arrays must match them.

    Raises :class:`UpdateTooLarge` when ``data`` exceeds ``max_bytes`` (checked first) and
    :class:`UpdateMalformed` for anything else that is wrong.
    """
    view = memoryview(data).cast("B")
    if view.nbytes > max_bytes:
        raise UpdateTooLarge(f"update is {view.nbytes} bytes, the limit is {max_bytes}")
    header = _parse_header(view)
    cid = header["client"]
    shapes = [tuple(s) for s in header["shapes"]]
    if expected_shapes is not None and shapes != [tuple(s) for s in expected_shapes]:
        raise UpdateMalformed(f"arrays {shapes} do not match the model's {list(expected_shapes)}", client_id=cid)
    payload = view[_PREFIX.size + _header_len(view) :]
    arrays = _parse_payload(payload, shapes, cid)
    update = Update(cid, header["base_version"], header["num_examples"], arrays)
    return UpdateMessage(header["run"], header["round"], update)


def _header_len(view: memoryview) -> int:
    return int(_PREFIX.unpack_from(view)[2])


def _parse_header(view: memoryview) -> dict[str, Any]:
    if view.nbytes < _PREFIX.size:
        raise UpdateMalformed(f"truncated: {view.nbytes} bytes, shorter than the {_PREFIX.size}-byte prefix")
    magic, version, length = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise UpdateMalformed(f"not an FL update: magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise UpdateMalformed(f"unsupported update format version {version} (this reader: {FORMAT_VERSION})")
    if length > MAX_HEADER_BYTES or _PREFIX.size + length > view.nbytes:
        raise UpdateMalformed(f"header length {length} exceeds the message or the {MAX_HEADER_BYTES}-byte limit")
    try:
        header = json.loads(bytes(view[_PREFIX.size : _PREFIX.size + length]).decode("utf-8"),
                            parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UpdateMalformed(f"header is not UTF-8 JSON: {exc}") from exc
    _check_header(header)
    return dict(header)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in the header")


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_ID_CHARS and v.isprintable()


def _check_header(h: object) -> None:
    if not isinstance(h, dict):
        raise UpdateMalformed(f"header must be a JSON object, got {type(h).__name__}")
    if set(h) != _HEADER_KEYS:
        missing, extra = sorted(_HEADER_KEYS - set(h)), sorted(set(h) - _HEADER_KEYS)
        raise UpdateMalformed(f"header keys wrong: missing {missing}, unexpected {extra}")
    cid = h["client"] if _is_id(h["client"]) else None
    ident = f"a printable string of 1–{MAX_ID_CHARS} chars"
    checks = [
        (_is_id(h["run"]), f"run must be {ident}"),
        (cid is not None, f"client must be {ident}"),
        (_is_id(h["base_version"]), f"base_version must be {ident}"),
        (_is_int(h["round"]) and h["round"] >= 0, f"round must be an integer ≥ 0, got {_short(h['round'])}"),
        (_is_int(h["num_examples"]) and h["num_examples"] >= 1,
         f"num_examples must be an integer ≥ 1, got {_short(h['num_examples'])}"),
        (h["dtype"] == DTYPE, f"dtype must be {DTYPE!r}, got {_short(h['dtype'])}"),
    ]
    problems = [msg for ok, msg in checks if not ok] + _shape_problems(h["shapes"])
    if problems:
        raise UpdateMalformed("; ".join(problems), client_id=cid)


def _shape_problems(shapes: object) -> list[str]:
    if not isinstance(shapes, list) or len(shapes) > MAX_ARRAYS:
        return [f"shapes must be a list of at most {MAX_ARRAYS} shapes"]
    for i, s in enumerate(shapes):
        if not (isinstance(s, list) and len(s) <= MAX_NDIM and all(_is_int(d) and d >= 0 for d in s)):
            return [f"shapes[{i}] must be a list of at most {MAX_NDIM} integers ≥ 0, got {_short(s)}"]
    return []


def _parse_payload(payload: memoryview, shapes: list[tuple[int, ...]], cid: str) -> Weights:
    counts = [math.prod(s) for s in shapes]
    expected = 4 * sum(counts)
    if payload.nbytes != expected:
        what = "truncated" if payload.nbytes < expected else "trailing bytes"
        raise UpdateMalformed(f"{what}: payload is {payload.nbytes} bytes, the shapes need {expected}", client_id=cid)
    flat = np.frombuffer(payload, dtype=DTYPE).astype(np.float32)
    bad = int(flat.size - np.count_nonzero(np.isfinite(flat)))
    if bad:
        raise UpdateMalformed(f"payload has {bad} non-finite value(s) (NaN/inf)", client_id=cid)
    bounds = np.cumsum([0, *counts])
    return [flat[int(a) : int(b)].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes, strict=True)]


__all__ = [
    "DTYPE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_ARRAYS",
    "MAX_HEADER_BYTES",
    "MAX_ID_CHARS",
    "MAX_NDIM",
    "UpdateMessage",
    "decode_update",
    "encode_update",
]
