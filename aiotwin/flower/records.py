"""Flower records ↔ numpy weights and the protocol of :mod:`aiotwin.flower.protocol` (imports flwr)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from aiotwin.fl import UpdateMalformed
from aiotwin.flower._exceptions import ClientTrainError
from aiotwin.flower.protocol import (
    KEY_NUM_EXAMPLES,
    KEY_UPDATE,
    PROTOCOL_VERSION,
    REC_ARRAYS,
    REC_CONFIG,
    REC_META,
    REC_METRICS,
    REC_UPDATE,
    TrainInstruction,
)
from aiotwin.models.task import Weights


def weights_record(weights: Sequence[npt.NDArray[Any]]) -> Any:
    """An ``ArrayRecord`` of ``weights`` (keys "0", "1", … keep the order)."""
    return ArrayRecord([np.ascontiguousarray(w) for w in weights])


def record_weights(record: Any) -> Weights:
    return [np.asarray(a) for a in record.to_numpy_ndarrays()]


def record_bytes(record: Any) -> int:
    """Payload bytes of an ``ArrayRecord`` (serialised arrays, no framing)."""
    return sum(len(array.data) for array in record.values())


def instruction_content(instruction: TrainInstruction, weights: Sequence[npt.NDArray[Any]]) -> Any:
    return RecordDict({REC_ARRAYS: weights_record(weights), REC_CONFIG: ConfigRecord(instruction.to_config())})


def parse_instruction(content: Any) -> tuple[TrainInstruction, Weights]:
    """The instruction and base weights of a train message (:class:`ClientTrainError` if malformed)."""
    if REC_ARRAYS not in content.array_records or REC_CONFIG not in content.config_records:
        raise ClientTrainError(f"train message needs the {REC_ARRAYS!r} and {REC_CONFIG!r} records")
    instruction = TrainInstruction.from_config(dict(content.config_records[REC_CONFIG]))
    return instruction, record_weights(content.array_records[REC_ARRAYS])


def reply_content(frame: bytes, num_examples: int, metrics: Mapping[str, float],
                  meta: Mapping[str, str | int]) -> Any:
    """A reply: the encoded update frame, the node's metrics, and who it is."""
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and np.isfinite(v)}
    return RecordDict({
        REC_UPDATE: ConfigRecord({KEY_UPDATE: frame}),
        REC_METRICS: MetricRecord({**numbers, KEY_NUM_EXAMPLES: int(num_examples)}),
        REC_META: ConfigRecord({"protocol": PROTOCOL_VERSION, **meta}),
    })


def reply_parts(content: Any) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """``(frame, metrics, meta)`` of a reply; :class:`aiotwin.fl.UpdateMalformed` when the records are not there."""
    if REC_UPDATE not in content.config_records:
        raise UpdateMalformed(f"reply has no {REC_UPDATE!r} record")
    frame = content.config_records[REC_UPDATE].get(KEY_UPDATE)
    if not isinstance(frame, bytes):
        raise UpdateMalformed(f"reply's {REC_UPDATE!r} record holds no bytes")
    metrics = dict(content.metric_records[REC_METRICS]) if REC_METRICS in content.metric_records else {}
    meta = dict(content.config_records[REC_META]) if REC_META in content.config_records else {}
    return frame, metrics, meta


__all__ = ["instruction_content", "parse_instruction", "record_bytes", "record_weights", "reply_content",
           "reply_parts", "weights_record"]
