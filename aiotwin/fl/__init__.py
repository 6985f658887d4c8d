"""Hierarchical federated learning: the pure, I/O-free core shared by the gateway and coordinator tiers.

- :mod:`aiotwin.fl.rules`: aggregation rules as pure functions over deltas (lists of arrays);
- :mod:`aiotwin.fl.aggregation`: one aggregation step (validate → clip → rule) with its config;
- :mod:`aiotwin.fl.rounds`: deadline + quorum round bookkeeping with an injected clock;
- :mod:`aiotwin.fl.wire`: the transport encoding of one update, with a strict parser.

Nothing here imports flwr or torch; the Flower strategies at both tiers call into this package.
See ``docs/fl-aggregation.md``.
"""

from aiotwin.fl._exceptions import (
    AggregationError,
    FlConfigError,
    FlError,
    NotEnoughUpdates,
    UpdateMalformed,
    UpdateRejected,
    UpdateTooLarge,
    VersionMismatch,
)
from aiotwin.fl.aggregation import (
    DEFAULT_CLIP_FACTOR,
    DEFAULT_MAX_UPDATE_BYTES,
    DEFAULT_TRIM_FRAC,
    RULES,
    AggregateResult,
    AggregationConfig,
    Rule,
    Update,
    aggregate,
    apply_delta,
    check_version,
    clip_bound,
    delta_from,
    validate_update,
)
from aiotwin.fl.rounds import (
    DEFAULT_QUORUM_FRAC,
    DEFAULT_ROUND_DEADLINE_S,
    CloseReason,
    ReplyStatus,
    RoundOutcome,
    RoundPlan,
    RoundState,
)
from aiotwin.fl.rules import (
    Weights,
    clip_update,
    coordinate_median,
    fedavg,
    global_norm,
    krum,
    krum_select,
    trimmed_mean,
)
from aiotwin.fl.wire import UpdateMessage, decode_update, encode_update

__all__ = [
    "DEFAULT_CLIP_FACTOR",
    "DEFAULT_MAX_UPDATE_BYTES",
    "DEFAULT_QUORUM_FRAC",
    "DEFAULT_ROUND_DEADLINE_S",
    "DEFAULT_TRIM_FRAC",
    "RULES",
    "AggregateResult",
    "AggregationConfig",
    "AggregationError",
    "CloseReason",
    "FlConfigError",
    "FlError",
    "NotEnoughUpdates",
    "ReplyStatus",
    "RoundOutcome",
    "RoundPlan",
    "RoundState",
    "Rule",
    "Update",
    "UpdateMalformed",
    "UpdateMessage",
    "UpdateRejected",
    "UpdateTooLarge",
    "VersionMismatch",
    "Weights",
    "aggregate",
    "apply_delta",
    "check_version",
    "clip_bound",
    "clip_update",
    "coordinate_median",
    "decode_update",
    "delta_from",
    "encode_update",
    "fedavg",
    "global_norm",
    "krum",
    "krum_select",
    "trimmed_mean",
    "validate_update",
]
