"""The router's wire rules, pure: request headers, how an instance's answer counts, JSON-safe numbers.

Headers a client sends::

    X-Client-Id: cam-12          required; 1-64 of [A-Za-z0-9._:-], starting with a letter or digit
    X-Deadline-Ms: 80            optional; the budget for this request in ms from its arrival at the
                                 router: a decimal number > 0 (no sign, exponent, inf or nan)

Headers the router adds to its answer: ``X-Aiotwin-Instance`` (the instance that answered) and
``X-Aiotwin-Attempts`` (1 + retries).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from gateway._exceptions import InvalidRequestHeader

CLIENT_ID_HEADER = "X-Client-Id"
DEADLINE_HEADER = "X-Deadline-Ms"
INSTANCE_HEADER = "X-Aiotwin-Instance"
ATTEMPTS_HEADER = "X-Aiotwin-Attempts"
TENSOR_SHAPE_HEADER = "X-Tensor-Shape"  # = gateway.serve.TENSOR_SHAPE_HEADER (raw octet-stream tensors)

# Client ids are bandit players, metric labels and JSON keys: short and printable.
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
DEADLINE_PATTERN = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")
MAX_DEADLINE_MS = 3_600_000.0  # one hour: anything longer is a client bug, not a budget

Outcome = Literal["ok", "rejected", "failed"]


def parse_client_id(value: str | None) -> str:
    """The client id of ``X-Client-Id``; :class:`InvalidRequestHeader` when missing or malformed."""
    if value is None or not value.strip():
        raise InvalidRequestHeader(f"missing {CLIENT_ID_HEADER} header: every request names its client")
    client = value.strip()
    if CLIENT_ID_PATTERN.fullmatch(client) is None:
        raise InvalidRequestHeader(f"{CLIENT_ID_HEADER} {client[:40]!r} must match {CLIENT_ID_PATTERN.pattern}")
    return client


def parse_deadline_ms(value: str | None) -> float | None:
    """The budget of ``X-Deadline-Ms`` in ms (``None`` when absent); invalid → :class:`InvalidRequestHeader`."""
    if value is None:
        return None
    text = value.strip()
    if DEADLINE_PATTERN.fullmatch(text) is None:
        raise InvalidRequestHeader(f"{DEADLINE_HEADER} {text[:40]!r} must be a positive decimal number of ms")
    ms = float(text)
    if not 0.0 < ms <= MAX_DEADLINE_MS:
        raise InvalidRequestHeader(f"{DEADLINE_HEADER} must be in (0, {MAX_DEADLINE_MS:g}] ms, got {text}")
    return ms


def classify(status: int) -> Outcome:
    """How an instance's HTTP answer counts.

    ``ok`` (2xx) is a reply; ``rejected`` (4xx: bad input, unknown model) goes back to the client and
    is no fault of the instance; ``failed`` (5xx and anything else) is a failure: a miss, a strike
    towards ejection, and a reason to retry elsewhere.
    """
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "rejected"
    return "failed"


def finite(value: float) -> float | None:
    """JSON has no inf/nan: they become ``null``."""
    return value if math.isfinite(value) else None


def with_instance(answer: Any, instance: str) -> dict[str, Any]:
    """The instance's JSON answer plus ``"instance"``; a non-object answer is wrapped as an error."""
    body = dict(answer) if isinstance(answer, dict) else {"error": "the instance sent a non-object answer"}
    body["instance"] = instance
    return body


__all__ = [
    "ATTEMPTS_HEADER",
    "CLIENT_ID_HEADER",
    "CLIENT_ID_PATTERN",
    "DEADLINE_HEADER",
    "DEADLINE_PATTERN",
    "INSTANCE_HEADER",
    "MAX_DEADLINE_MS",
    "TENSOR_SHAPE_HEADER",
    "Outcome",
    "classify",
    "finite",
    "parse_client_id",
    "parse_deadline_ms",
    "with_instance",
]
