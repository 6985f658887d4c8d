"""One aggregation step, the same at both tiers: validate, clip, apply the configured rule.

Clients send **deltas**, not weights: ``delta = local_weights − global_weights`` where the global
weights are those of the update's ``base_version``. Aggregating deltas is what makes norm clipping
and the robust rules meaningful: the norm of a delta is how far a client moved the model, the same
scale for every client, and a median or trimmed mean of deltas is a robust estimate of the *step*.
The new model is ``global + aggregated delta``.

The same code serves both tiers. A gateway aggregates its devices' deltas (relative to its current
local model) and, after its local rounds, replies to the coordinator with ``gateway_model −
global_model`` as its delta and the summed example count of its last local aggregation as
``num_examples``; the coordinator's FedAvg then weighs gateways by the examples behind them.

:func:`aggregate` never raises for one bad update: it records the reason in
:attr:`AggregateResult.rejected` and goes on. It raises :class:`NotEnoughUpdates` (with every
reason) only when fewer valid updates remain than the rule needs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from aiotwin.fl import rules
from aiotwin.fl._exceptions import (
    FlConfigError,
    NotEnoughUpdates,
    UpdateMalformed,
    UpdateRejected,
    UpdateTooLarge,
    VersionMismatch,
)
from aiotwin.fl.rules import AnyArray, Delta, Weights

Rule = Literal["fedavg", "trimmed-mean", "median", "krum", "multi-krum"]
RULES: tuple[str, ...] = get_args(Rule)

DEFAULT_TRIM_FRAC = 0.2  # per side; Flower's FedTrimmedAvg default (beta=0.2)
DEFAULT_CLIP_FACTOR = 2.0  # adaptive bound = 2 × median norm: honest updates are rarely clipped
DEFAULT_MAX_UPDATE_BYTES = 32 * 1024 * 1024  # 200× the fp32 edge model (160 kB); raise for big models
_CASTABLE_KINDS = "fiu"  # float, signed and unsigned int: safe or same-kind casts to float32


@dataclass(frozen=True, eq=False)
class Update:
    """One client's contribution to a round.

    ``delta`` is ``local − global`` against the model of ``base_version`` (one array per tensor);
    ``num_examples`` is how many local examples produced it (at the coordinator tier: the summed
    examples behind a gateway's aggregate).
    """

    client_id: str
    base_version: str
    num_examples: int
    delta: Delta

    @classmethod
    def from_weights(cls, client_id: str, base_version: str, num_examples: int, local: Delta, base: Delta) -> Update:
        """Build an update from a client's trained weights and the base weights it started from."""
        return cls(client_id, base_version, num_examples, delta_from(local, base))


def delta_from(local: Delta, base: Delta) -> Weights:
    """``local − base`` per tensor, as float32."""
    if len(local) != len(base):
        raise UpdateMalformed(f"{len(local)} local arrays, the base model has {len(base)}")
    pairs = zip(local, base, strict=True)
    return [rules.as_f32(np.asarray(a, np.float64) - np.asarray(b, np.float64)) for a, b in pairs]


def apply_delta(base: Delta, delta: Delta) -> Weights:
    """``base + delta`` per tensor, as float32."""
    pairs = zip(base, delta, strict=True)
    return [rules.as_f32(np.asarray(b, np.float64) + np.asarray(d, np.float64)) for b, d in pairs]


@dataclass(frozen=True)
class AggregationConfig:
    """How one tier aggregates (loadable from TOML with :func:`aiotwin.config.load_dataclass`).

    ``rule``: ``fedavg`` (weighted by examples), ``trimmed-mean`` (drops ``trim-frac`` per side),
    ``median``, ``krum`` or ``multi-krum`` (tolerating ``byzantine`` attackers; ``multi-m`` best,
    default ``n − byzantine``). Clipping is always on: a fixed bound ``clip-norm`` when set, else the
    adaptive bound ``clip-factor × median norm`` of the round's valid updates.
    """

    rule: Rule = "fedavg"
    trim_frac: float = DEFAULT_TRIM_FRAC
    byzantine: int = 0
    multi_m: int | None = None
    clip_norm: float | None = None
    clip_factor: float = DEFAULT_CLIP_FACTOR
    max_update_bytes: int = DEFAULT_MAX_UPDATE_BYTES

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise FlConfigError("aggregation config", problems)

    @property
    def min_updates(self) -> int:
        """Valid updates the rule needs: ``2·byzantine + 3`` for Krum (Blanchard et al.), else 1."""
        return rules.krum_min_updates(self.byzantine) if self.rule in ("krum", "multi-krum") else 1


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _config_problems(c: AggregationConfig) -> list[str]:
    problems: list[str] = []
    if c.rule not in RULES:
        problems.append(f"rule must be one of {', '.join(RULES)}; got {c.rule!r}")
    if not (_is_number(c.trim_frac) and 0 <= c.trim_frac < 0.5):
        problems.append(f"trim-frac must be in [0, 0.5) (the share dropped at each end); got {c.trim_frac!r}")
    if not (_is_int(c.byzantine) and c.byzantine >= 0):
        problems.append(f"byzantine must be an integer ≥ 0; got {c.byzantine!r}")
    if c.multi_m is not None and not (_is_int(c.multi_m) and c.multi_m >= 1):
        problems.append(f"multi-m must be an integer ≥ 1 (or unset for n − byzantine); got {c.multi_m!r}")
    if c.multi_m is not None and c.rule != "multi-krum":
        problems.append(f"multi-m applies only to rule 'multi-krum', not {c.rule!r}")
    if c.clip_norm is not None and not (_is_number(c.clip_norm) and c.clip_norm > 0):
        problems.append(f"clip-norm must be a finite number > 0 (or unset for adaptive clipping); got {c.clip_norm!r}")
    if not (_is_number(c.clip_factor) and c.clip_factor > 0):
        problems.append(f"clip-factor must be a finite number > 0; got {c.clip_factor!r}")
    if not (_is_int(c.max_update_bytes) and c.max_update_bytes > 0):
        problems.append(f"max-update-bytes must be an integer > 0; got {c.max_update_bytes!r}")
    return problems


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """What one aggregation produced, and what happened to every update.

    ``used``: the clients whose deltas went into the rule's output (for Krum/Multi-Krum only the
    selected ones); ``num_examples`` sums their example counts. ``norms`` holds the original L2
    norm of every valid update, ``clipped`` the clients scaled down to ``clip_bound``.
    """

    weights: Weights
    delta: Weights
    num_examples: int
    used: tuple[str, ...]
    rejected: Mapping[str, str]
    clipped: tuple[str, ...]
    norms: Mapping[str, float]
    clip_bound: float
    rule: Rule
    not_selected: tuple[str, ...] = field(default=())


def check_version(update: Update, base_version: str) -> None:
    """Raise :class:`VersionMismatch` unless ``update`` was trained on ``base_version``."""
    if update.base_version != base_version:
        raise VersionMismatch(
            f"trained on base version {update.base_version!r}, this round aggregates {base_version!r}",
            client_id=update.client_id,
        )


def validate_update(update: Update, global_weights: Delta, base_version: str, max_bytes: int) -> Weights:
    """Check one update against the round's model; return its delta as float32 copies.

    Raises an :class:`UpdateRejected` subclass naming the client and the first problem found.
    """
    cid = update.client_id
    if not isinstance(cid, str) or not cid:
        raise UpdateMalformed(f"client id must be a non-empty string, got {cid!r}", client_id=str(cid))
    check_version(update, base_version)
    n = update.num_examples
    if not (_is_int(n) or isinstance(n, np.integer)) or n < 1:
        raise UpdateMalformed(f"num_examples must be an integer ≥ 1, got {n!r}", client_id=cid)
    delta = update.delta
    if not isinstance(delta, list | tuple) or not all(isinstance(a, np.ndarray) for a in delta):
        raise UpdateMalformed("delta must be a list of numpy arrays", client_id=cid)
    size = sum(a.nbytes for a in delta)
    if size > max_bytes:
        raise UpdateTooLarge(f"delta is {size} bytes, the limit is {max_bytes}", client_id=cid)
    if len(delta) != len(global_weights):
        raise UpdateMalformed(f"delta has {len(delta)} arrays, the model has {len(global_weights)}", client_id=cid)
    return [_check_array(i, a, np.shape(g), cid) for i, (a, g) in enumerate(zip(delta, global_weights, strict=True))]


def _check_array(i: int, a: AnyArray, shape: tuple[int, ...], cid: str) -> rules.Array:
    if a.dtype.kind not in _CASTABLE_KINDS:
        raise UpdateMalformed(f"array {i} has dtype {a.dtype}, not castable to float32", client_id=cid)
    if a.shape != shape:
        raise UpdateMalformed(f"array {i} has shape {a.shape}, the model's is {shape}", client_id=cid)
    with np.errstate(over="ignore"):
        out = np.array(a, dtype=np.float32, order="C")
    bad = int(out.size - np.count_nonzero(np.isfinite(out)))
    if bad:
        raise UpdateMalformed(f"array {i} has {bad} non-finite value(s) (NaN/inf, or too big for float32)",
                              client_id=cid)
    return out


def _validate_all(
    global_weights: Delta, updates: Sequence[Update], base_version: str, max_bytes: int,
) -> tuple[list[tuple[Update, Weights]], dict[str, str]]:
    counts = Counter(u.client_id for u in updates)
    valid: list[tuple[Update, Weights]] = []
    rejected: dict[str, str] = {}
    for u in updates:
        if counts[u.client_id] > 1:
            rejected[str(u.client_id)] = f"{counts[u.client_id]} updates from one client in one round"
            continue
        try:
            valid.append((u, validate_update(u, global_weights, base_version, max_bytes)))
        except UpdateRejected as exc:
            rejected[str(u.client_id)] = exc.reason
    return valid, rejected


def clip_bound(norms: Sequence[float], config: AggregationConfig) -> float:
    """The round's clipping bound: ``clip_norm`` if set, else ``clip_factor × median(norms)``."""
    if config.clip_norm is not None:
        return float(config.clip_norm)
    return float(config.clip_factor * np.median(np.asarray(norms, dtype=np.float64)))


def _apply_rule(deltas: list[Weights], examples: list[int], config: AggregationConfig) -> tuple[Weights, list[int]]:
    """The rule's output and the indices of the deltas that went into it."""
    everyone = list(range(len(deltas)))
    if config.rule == "fedavg":
        return rules.fedavg(deltas, [float(e) for e in examples]), everyone
    if config.rule == "trimmed-mean":
        return rules.trimmed_mean(deltas, config.trim_frac), everyone
    if config.rule == "median":
        return rules.coordinate_median(deltas), everyone
    f = config.byzantine
    m = 1 if config.rule == "krum" else min(config.multi_m or len(deltas) - f, len(deltas) - f)
    chosen = rules.krum_select(deltas, f, m)
    return rules.mean([deltas[i] for i in chosen]), sorted(chosen)


def aggregate(
    global_weights: Delta,
    updates: Sequence[Update],
    config: AggregationConfig,
    *,
    base_version: str,
) -> AggregateResult:
    """Validate every update, clip each to the round's bound, then apply ``config.rule``.

    ``global_weights`` are the weights of ``base_version``, the model every update must have been
    trained on. Raises :class:`NotEnoughUpdates` when fewer than ``config.min_updates`` are valid.
    """
    base = [np.asarray(g, dtype=np.float32) for g in global_weights]
    valid, rejected = _validate_all(base, updates, base_version, config.max_update_bytes)
    if len(valid) < config.min_updates:
        raise NotEnoughUpdates(
            f"{config.rule} needs at least {config.min_updates} valid update(s), got {len(valid)}", rejected=rejected
        )
    norms = {u.client_id: rules.global_norm(d) for u, d in valid}
    bound = clip_bound(list(norms.values()), config)
    clipped_deltas = [rules.clip_update(d, bound)[0] for _, d in valid]
    delta, chosen = _apply_rule(clipped_deltas, [int(u.num_examples) for u, _ in valid], config)
    ids = [u.client_id for u, _ in valid]
    picked = set(chosen)
    return AggregateResult(
        weights=apply_delta(base, delta),
        delta=delta,
        num_examples=sum(int(valid[i][0].num_examples) for i in chosen),
        used=tuple(ids[i] for i in chosen),
        rejected=rejected,
        clipped=tuple(cid for cid in ids if norms[cid] > bound),
        norms=norms,
        clip_bound=bound,
        rule=config.rule,
        not_selected=tuple(cid for i, cid in enumerate(ids) if i not in picked),
    )


__all__ = [
    "DEFAULT_CLIP_FACTOR",
    "DEFAULT_MAX_UPDATE_BYTES",
    "DEFAULT_TRIM_FRAC",
    "RULES",
    "AggregateResult",
    "AggregationConfig",
    "Rule",
    "Update",
    "aggregate",
    "apply_delta",
    "check_version",
    "clip_bound",
    "delta_from",
    "validate_update",
]
