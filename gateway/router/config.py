"""Typed configuration of the QoS-aware router (the ``[router]`` table of ``gateway.toml``).

Example::

    [router]
    policy = "qedgeproxy"

    [router.qos]
    tau-ms = 80.0                 # latency bound τ
    rho = 0.95                    # required fraction of requests within τ
    [router.qos.window]
    max-samples = 50              # W by count ...
    max-age-s = 30.0              # ... and by age (either may be omitted, not both)

    [router.kde]
    bandwidth = "silverman"       # silverman | scott | fixed
    fixed-bandwidth-ms = 5.0
    min-bandwidth-ms = 1.0
    min-samples = 5

    [router.exploration]
    eps-min = 0.02
    eps-max = 0.25
    decay = 0.97

    [router.classes.drones]       # per client class overrides, matched by client id glob
    clients = ["drone-*"]
    tau-ms = 40.0

    [router.http]                 # the HTTP hop (aiotwin-gateway start); the policies never read it
    host = "0.0.0.0"
    port = 8470
    timeout-ms = 1000.0           # upstream timeout per attempt (X-Deadline-Ms may shorten it)
    [router.mdns]                 # discover _aiotwin-infer._tcp instances
    enabled = true
    interfaces = []               # empty: every interface
    [[router.instances]]          # static instances, beside the discovered ones
    url = "http://10.0.0.7:8480"
    id = "gpu-box"                # optional: default "host:port"
    rtt-ms = 2.5                  # optional: for the proximity baseline

The QEdgeProxy papers leave almost every value open (see ``docs/qedgeproxy.md``), so every knob is a
field here and every default is a named constant whose comment says where it comes from. Loading goes
through :func:`aiotwin.config.load_dataclass`; a value out of range raises
:class:`~gateway._exceptions.InvalidRouterConfig`, which the loader reports with file and key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiotwin.config import load_dataclass
from gateway._exceptions import InvalidRouterConfig
from gateway.router.http_config import HttpConfig, RouterMdnsConfig, StaticInstance

PolicyName = Literal[
    "qedgeproxy", "round-robin", "random", "proximity", "least-ewma", "p2c-ewma", "p2c-inflight"
]
BandwidthRule = Literal["silverman", "scott", "fixed"]
Weighting = Literal["probability", "uniform", "inverse-latency"]

# --- QoS requirement (τ, ρ, W) ------------------------------------------------------------------
DEFAULT_TAU_MS = 80.0  # QEdgeProxy blog example 80 ms (PilotNet steering deadline); paper value unknown
DEFAULT_RHO = 0.95  # assumed; paper value unknown ("95-100 % per-client satisfaction" headline)
DEFAULT_WINDOW_SAMPLES = 50  # assumed; paper value unknown (≥ 20 needed to resolve a 5 % miss rate)
DEFAULT_WINDOW_AGE_S = 30.0  # assumed; paper value unknown

# --- kernel density estimate --------------------------------------------------------------------
DEFAULT_BANDWIDTH_RULE: BandwidthRule = "silverman"  # reference "workable design"; paper rule unknown
DEFAULT_FIXED_BANDWIDTH_MS = 5.0  # assumed; used only with bandwidth = "fixed"
DEFAULT_MIN_BANDWIDTH_MS = 1.0  # assumed: about the timer/jitter resolution of one HTTP hop
DEFAULT_MIN_SAMPLES = 5  # assumed; paper value unknown: fewer samples and an instance is "unknown"

# --- QoS pool and dispatch ----------------------------------------------------------------------
DEFAULT_WEIGHTING: Weighting = "probability"  # reference "workable design": weight ∝ P̂
DEFAULT_WEIGHT_SCALE = 1000  # integer scale of SWRR weights (nginx takes integers); resolution 0.1 %

# --- adaptive ε-exploration ---------------------------------------------------------------------
DEFAULT_EPS_MIN = 0.02  # assumed; paper value unknown
DEFAULT_EPS_MAX = 0.25  # assumed; paper value unknown
DEFAULT_EPS_INITIAL = 0.25  # assumed: a new client starts curious
DEFAULT_EPS_DECAY = 0.97  # assumed; per observation: 0.25 → 0.02 in ~83 requests
DEFAULT_EPS_BOOST_ON_SHIFT = 0.25  # assumed; ε floor while the pool misses and success < ρ
DEFAULT_EPS_BOOST_ON_JOIN = 0.25  # assumed; ε floor after an instance joins (or returns from ejection)
DEFAULT_EPS_BOOST_ON_LEAVE = 0.0  # assumed; a leaving instance opens no new option (the shift detector
#                                   still boosts if the rest of the pool cannot carry the client)
DEFAULT_STALE_AFTER_S = 10.0  # assumed: an estimate older than this is re-explored

# --- outlier ejection ---------------------------------------------------------------------------
DEFAULT_CONSECUTIVE_FAILURES = 5  # Envoy outlier detection default consecutive_5xx = 5
DEFAULT_BASE_EJECTION_S = 30.0  # Envoy base_ejection_time 30 s; QEdgeProxy v1 cooldown 30 s × failures
DEFAULT_MAX_EJECTION_S = 300.0  # Envoy max_ejection_time default 300 s
DEFAULT_MAX_EJECTION_PERCENT = 50.0  # assumed (Envoy: 10 %, too few to eject anything among < 10 instances)
DEFAULT_PROBE_INTERVAL_S = 5.0  # assumed: one half-open probe per ejected instance this often

# --- retries ------------------------------------------------------------------------------------
DEFAULT_RETRY_BUDGET_RATIO = 0.2  # ≤ 20 % of requests may be retried (Finagle RetryBudget percentCanRetry)
DEFAULT_RETRY_MIN_PER_S = 0.0  # assumed (Finagle: 10/s); 0 keeps the 20 % bound strict
DEFAULT_RETRY_MAX_TOKENS = 10.0  # assumed: largest burst of retries the budget can save up
DEFAULT_RETRY_BACKOFF_BASE_S = 0.005  # assumed: a retry must still fit inside τ = 80 ms
DEFAULT_RETRY_BACKOFF_CAP_S = 0.04  # assumed: half of τ
DEFAULT_RETRY_MAX_ATTEMPTS = 2  # assumed: the first try plus one retry

# --- baselines ----------------------------------------------------------------------------------
DEFAULT_EWMA_ALPHA = 0.3  # QEdgeProxy v1 yaml (code default 0.2)
DEFAULT_FAILURE_LATENCY_MS = 1000.0  # assumed: what a failure counts as in an EWMA



def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidRouterConfig(message)


def _check_positive(name: str, value: float | None) -> None:
    _check(value is None or value > 0, f"{name} must be > 0, got {value}")


def _check_fraction(name: str, value: float, *, open_low: bool = False) -> None:
    ok = 0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0
    _check(ok, f"{name} must be in {'(0, 1]' if open_low else '[0, 1]'}, got {value}")


@dataclass(frozen=True)
class WindowConfig:
    """The evaluation window W: the newest ``max-samples`` samples not older than ``max-age-s``."""

    max_samples: int | None = DEFAULT_WINDOW_SAMPLES
    max_age_s: float | None = DEFAULT_WINDOW_AGE_S

    def __post_init__(self) -> None:
        _check(self.max_samples is not None or self.max_age_s is not None,
               "window needs max-samples, max-age-s or both")
        _check_positive("window max-samples", self.max_samples)
        _check_positive("window max-age-s", self.max_age_s)


@dataclass(frozen=True)
class QosConfig:
    """The QoS requirement (τ, ρ, W) of a client."""

    tau_ms: float = DEFAULT_TAU_MS
    rho: float = DEFAULT_RHO
    window: WindowConfig = field(default_factory=WindowConfig)

    def __post_init__(self) -> None:
        _check_positive("tau-ms", self.tau_ms)
        _check_fraction("rho", self.rho, open_low=True)


@dataclass(frozen=True)
class KdeConfig:
    """Kernel density estimate of P(latency ≤ τ)."""

    bandwidth: BandwidthRule = DEFAULT_BANDWIDTH_RULE
    fixed_bandwidth_ms: float = DEFAULT_FIXED_BANDWIDTH_MS
    min_bandwidth_ms: float = DEFAULT_MIN_BANDWIDTH_MS
    min_samples: int = DEFAULT_MIN_SAMPLES

    def __post_init__(self) -> None:
        _check_positive("fixed-bandwidth-ms", self.fixed_bandwidth_ms)
        _check_positive("min-bandwidth-ms", self.min_bandwidth_ms)
        _check(self.min_samples >= 1, f"min-samples must be ≥ 1, got {self.min_samples}")


@dataclass(frozen=True)
class PoolConfig:
    """Admission to the per-client QoS pool and the weights SWRR dispatches with."""

    admission_threshold: float | None = None  # None: ρ of the client's QoS class
    weighting: Weighting = DEFAULT_WEIGHTING
    weight_scale: int = DEFAULT_WEIGHT_SCALE

    def __post_init__(self) -> None:
        if self.admission_threshold is not None:
            _check_fraction("admission-threshold", self.admission_threshold)
        _check(self.weight_scale >= 1, f"weight-scale must be ≥ 1, got {self.weight_scale}")


@dataclass(frozen=True)
class ExplorationConfig:
    """The adaptive ε schedule of the bandit."""

    eps_min: float = DEFAULT_EPS_MIN
    eps_max: float = DEFAULT_EPS_MAX
    eps_initial: float = DEFAULT_EPS_INITIAL
    decay: float = DEFAULT_EPS_DECAY
    boost_on_shift: float = DEFAULT_EPS_BOOST_ON_SHIFT
    boost_on_join: float = DEFAULT_EPS_BOOST_ON_JOIN
    boost_on_leave: float = DEFAULT_EPS_BOOST_ON_LEAVE
    stale_after_s: float = DEFAULT_STALE_AFTER_S

    def __post_init__(self) -> None:
        for name in ("eps_min", "eps_max", "eps_initial", "boost_on_shift", "boost_on_join",
                     "boost_on_leave"):
            _check_fraction(name.replace("_", "-"), getattr(self, name))
        _check(self.eps_min <= self.eps_initial <= self.eps_max,
               f"need eps-min ≤ eps-initial ≤ eps-max, got {self.eps_min}, {self.eps_initial}, {self.eps_max}")
        _check_fraction("decay", self.decay, open_low=True)
        _check_positive("stale-after-s", self.stale_after_s)


@dataclass(frozen=True)
class OutlierConfig:
    """Ejection of instances that fail consecutively, with half-open re-probes."""

    enabled: bool = True
    consecutive_failures: int = DEFAULT_CONSECUTIVE_FAILURES
    base_ejection_s: float = DEFAULT_BASE_EJECTION_S
    max_ejection_s: float = DEFAULT_MAX_EJECTION_S
    max_ejection_percent: float = DEFAULT_MAX_EJECTION_PERCENT
    probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S

    def __post_init__(self) -> None:
        _check(self.consecutive_failures >= 1, "consecutive-failures must be ≥ 1")
        _check_positive("base-ejection-s", self.base_ejection_s)
        _check(self.max_ejection_s >= self.base_ejection_s, "max-ejection-s must be ≥ base-ejection-s")
        _check(0.0 <= self.max_ejection_percent <= 100.0, "max-ejection-percent must be in [0, 100]")
        _check_positive("probe-interval-s", self.probe_interval_s)


@dataclass(frozen=True)
class RetryConfig:
    """Retry budget (a token bucket) and the jittered backoff between attempts."""

    budget_ratio: float = DEFAULT_RETRY_BUDGET_RATIO
    min_retries_per_s: float = DEFAULT_RETRY_MIN_PER_S
    max_tokens: float = DEFAULT_RETRY_MAX_TOKENS
    backoff_base_s: float = DEFAULT_RETRY_BACKOFF_BASE_S
    backoff_cap_s: float = DEFAULT_RETRY_BACKOFF_CAP_S
    max_attempts: int = DEFAULT_RETRY_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        _check_fraction("budget-ratio", self.budget_ratio)
        _check(self.min_retries_per_s >= 0, "min-retries-per-s must be ≥ 0")
        _check(self.max_tokens >= 1, "max-tokens must be ≥ 1")
        _check_positive("backoff-base-s", self.backoff_base_s)
        _check(self.backoff_cap_s >= self.backoff_base_s, "backoff-cap-s must be ≥ backoff-base-s")
        _check(self.max_attempts >= 1, "max-attempts must be ≥ 1")


@dataclass(frozen=True)
class BaselineConfig:
    """Parameters of the baseline policies (benchmarks)."""

    ewma_alpha: float = DEFAULT_EWMA_ALPHA
    failure_latency_ms: float = DEFAULT_FAILURE_LATENCY_MS

    def __post_init__(self) -> None:
        _check_fraction("ewma-alpha", self.ewma_alpha, open_low=True)
        _check_positive("failure-latency-ms", self.failure_latency_ms)


@dataclass(frozen=True)
class ClientClassConfig:
    """QoS overrides for the clients whose id matches one of ``clients`` (shell-style globs)."""

    clients: tuple[str, ...]
    tau_ms: float | None = None
    rho: float | None = None
    window: WindowConfig | None = None

    def apply(self, base: QosConfig) -> QosConfig:
        """Return ``base`` with this class's overrides."""
        return replace(
            base,
            tau_ms=base.tau_ms if self.tau_ms is None else self.tau_ms,
            rho=base.rho if self.rho is None else self.rho,
            window=base.window if self.window is None else self.window,
        )

    def matches(self, client: str) -> bool:
        return any(fnmatch.fnmatchcase(client, pattern) for pattern in self.clients)


@dataclass(frozen=True)
class RouterConfig:
    """Everything the router reads. Classes are tried in file order; the first match wins.

    The policies read the QoS, estimation, pool, exploration, ejection, retry and baseline sections;
    ``http``, ``mdns``, ``instances`` and ``seed`` belong to the HTTP hop (``gateway.proxy``).
    """

    policy: PolicyName = "qedgeproxy"
    qos: QosConfig = field(default_factory=QosConfig)
    kde: KdeConfig = field(default_factory=KdeConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    outlier: OutlierConfig = field(default_factory=OutlierConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    classes: dict[str, ClientClassConfig] = field(default_factory=dict)
    http: HttpConfig = field(default_factory=HttpConfig)
    mdns: RouterMdnsConfig = field(default_factory=RouterMdnsConfig)
    instances: tuple[StaticInstance, ...] = ()
    seed: int | None = None  # the policy's random.Random; None: seeded by the OS

    def __post_init__(self) -> None:
        ids = [i.instance_id for i in self.instances]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        _check(not dupes, f"instances: duplicate instance id(s) {', '.join(dupes)}")

    def qos_for(self, client: str) -> QosConfig:
        """The QoS requirement of ``client``: its class's overrides, or the default."""
        for cls in self.classes.values():
            if cls.matches(client):
                return cls.apply(self.qos)
        return self.qos


def load_router_config(data: Mapping[str, Any], *, file: str = "<config>", text: str = "") -> RouterConfig:
    """Convert the parsed ``[router]`` table; raise :class:`aiotwin.ConfigError` listing every problem."""
    return load_dataclass(RouterConfig, data, file=file, text=text)


__all__ = [
    "DEFAULT_BANDWIDTH_RULE",
    "DEFAULT_BASE_EJECTION_S",
    "DEFAULT_CONSECUTIVE_FAILURES",
    "DEFAULT_EPS_BOOST_ON_JOIN",
    "DEFAULT_EPS_BOOST_ON_LEAVE",
    "DEFAULT_EPS_BOOST_ON_SHIFT",
    "DEFAULT_EPS_DECAY",
    "DEFAULT_EPS_INITIAL",
    "DEFAULT_EPS_MAX",
    "DEFAULT_EPS_MIN",
    "DEFAULT_EWMA_ALPHA",
    "DEFAULT_FAILURE_LATENCY_MS",
    "DEFAULT_FIXED_BANDWIDTH_MS",
    "DEFAULT_MAX_EJECTION_PERCENT",
    "DEFAULT_MAX_EJECTION_S",
    "DEFAULT_MIN_BANDWIDTH_MS",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_PROBE_INTERVAL_S",
    "DEFAULT_RETRY_BACKOFF_BASE_S",
    "DEFAULT_RETRY_BACKOFF_CAP_S",
    "DEFAULT_RETRY_BUDGET_RATIO",
    "DEFAULT_RETRY_MAX_ATTEMPTS",
    "DEFAULT_RETRY_MAX_TOKENS",
    "DEFAULT_RETRY_MIN_PER_S",
    "DEFAULT_RHO",
    "DEFAULT_STALE_AFTER_S",
    "DEFAULT_TAU_MS",
    "DEFAULT_WEIGHTING",
    "DEFAULT_WEIGHT_SCALE",
    "DEFAULT_WINDOW_AGE_S",
    "DEFAULT_WINDOW_SAMPLES",
    "BandwidthRule",
    "BaselineConfig",
    "ClientClassConfig",
    "ExplorationConfig",
    "KdeConfig",
    "OutlierConfig",
    "PolicyName",
    "PoolConfig",
    "QosConfig",
    "RetryConfig",
    "RouterConfig",
    "Weighting",
    "WindowConfig",
    "load_router_config",
]
