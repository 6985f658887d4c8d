"""Typed configuration of a camera node (``device.toml``).

Example::

    node-id = "cam-node-17"          # defaults to a hardware serial (never an address)
    data-dir = "/var/lib/aiotwin"    # outbox, samples, model slots
    bundle = "/opt/aiotwin/bundle"   # default: the bundle shipped in the package
    variant = "onnx-int8"            # override auto-selection (also AIOTWIN_VARIANT)
    threads = 2

    [metrics]
    host = "127.0.0.1"
    port = 9464

    [outbox]
    max-events = 100000
    ttl-s = 604800

    [uplink]                         # CoAP uplink to the gateway (docs/uplink.md); off unless configured
    gateway = "coap://10.0.0.2:5683" # fallback (or only) address of the gateway
    mdns = true                      # find the gateway by mDNS (_aiotwin-gw._udp) first

    [offload]                        # joint inference through the gateway router (docs/offload.md)
    router = "http://10.0.0.2:8470"  # off without it
    model = "vehicle-cloud"
    threshold = 0.6                  # edge confidence below which a crop is a candidate
    budget-ms = 80                   # the answer must come back within this

    [samples]                        # crops kept to learn from (docs/offload.md)
    max-samples = 20000
    pseudo-label-threshold = 0.9     # counted tracks this sure become pseudo-labelled samples
    pseudo-labels-per-minute = 4     # per camera; 0: no pseudo-labels

    [drift]                          # drift of the edge model's predictions (docs/device.md)
    enabled = true                   # default: on when [fl] enabled
    reference = 1000                 # predictions after a model version starts: the reference
    window = 500                     # the most recent predictions, compared with it
    threshold = 0.25                 # population stability index that counts as drift

    [fl]                             # federated learning: a Flower SuperNode (docs/fl.md); off by default
    enabled = true
    superlink = "10.0.0.2:9092"      # the gateway's SuperLink (host:port)
    runtime-port = 9094              # the SuperNode's local runtime API (one per node on a host)
    root-certificates = "/etc/aiotwin/fl-ca.pem"   # CA of the gateway's SuperLink certificate (TLS)

    [[cameras]]
    id = "north-1"
    source = "rtsp://10.0.0.5/stream1"   # /dev/video0, 0, file path, rtsp://, gst pipeline, synthetic:NAME?seed=N
    line = [0, 400, 1280, 400]
    line-id = "stopline"
    [[cameras.lanes]]
    id = "nb-1"
    polygon = [[0, 300], [640, 300], [640, 720], [0, 720]]
    [[cameras.mask-zones]]
    polygon = [[1000, 0], [1280, 0], [1280, 200], [1000, 200]]

Per-backend parameter classes live here, never in the backend modules, so loading config never
imports onnxruntime/cv2/torch. Loading goes through :func:`aiotwin.config.load_toml` (unknown keys
rejected, every error reported with file, line and key path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiotwin.config import load_toml

# Production defaults, each with its source.
DEFAULT_METRICS_PORT = 9464  # OpenTelemetry/Prometheus exporter convention
DEFAULT_OUTBOX_MAX_EVENTS = 100_000  # ~a week of a busy 4-lane junction at ~10 crossings/min
DEFAULT_OUTBOX_TTL_S = 7 * 24 * 3600  # one week: covers a long gateway outage
DEFAULT_CONFIRM_FRAMES = 3  # frames a track must stay across the line before it counts
DEFAULT_MAX_MISSED_FRAMES = 20  # > the ~15-frame occlusion (a car behind a bus) the tracker must bridge
DEFAULT_QUEUE_FRAMES = 4  # bounded frame queue, drop-oldest
DEFAULT_UPLINK_BATCH_EVENTS = 64  # ~20 KB of events: a handful of Block1 blocks per POST
DEFAULT_UPLINK_BATCH_BYTES = 16 * 1024  # 16 blocks of 1024 bytes (RFC 7959 largest SZX)
DEFAULT_UPLINK_TIMEOUT_S = 20.0  # < RFC 7252 MAX_TRANSMIT_WAIT (93 s): notice a dead gateway sooner
DEFAULT_UPLINK_RETRY_MAX_S = 30.0  # backoff cap while the gateway is down (aiotwin.retry default)
DEFAULT_FL_RUNTIME_PORT = 9094  # flower-supernode's default runtime API port
DEFAULT_FL_RESTART_MAX_S = 30.0  # backoff cap between SuperNode restarts (aiotwin.retry default)
DEFAULT_PSEUDO_LABEL_THRESHOLD = 0.9  # self-training practice: only very confident predictions teach
DEFAULT_PSEUDO_LABELS_PER_MINUTE = 4  # per camera: ~5800 a day, the store's 20k turn over in ~4 days
DEFAULT_DRIFT_THRESHOLD = 0.25  # PSI > 0.25: "significant shift" (the credit-scoring rule of thumb)
DEFAULT_DRIFT_COOLDOWN_S = 3600.0  # at most one drift report an hour per camera


@dataclass(frozen=True)
class Zone:
    """A polygon in image pixels (lanes, privacy mask zones, region of interest)."""

    polygon: list[tuple[float, float]]
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError("a polygon needs at least 3 points")


@dataclass(frozen=True)
class MotionConfig:
    """Background subtraction and blob extraction."""

    downscale: int = 2  # process motion at 1/downscale resolution
    history: int = 300
    var_threshold: float = 24.0
    min_area: int = 150  # at full resolution, px²
    learning_rate: float = -1.0  # -1: OpenCV automatic


@dataclass(frozen=True)
class TrackerConfig:
    iou_threshold: float = 0.2
    max_missed_frames: int = DEFAULT_MAX_MISSED_FRAMES
    min_hits: int = 2


@dataclass(frozen=True)
class ClassifyConfig:
    """When the pipeline classifies a track's crops (a track's class is the vote over them)."""

    first_k: int = 3  # classify a track on its first K clear sightings
    every_m: int = 10  # then once every M frames
    padding: float = 0.1  # crop padding, a share of the box size on each side


@dataclass(frozen=True)
class CountingConfig:
    confirm_frames: int = DEFAULT_CONFIRM_FRAMES
    line_margin_px: float = 30.0  # a crossing may land this far beyond the segment's ends


@dataclass(frozen=True)
class PrivacyConfig:
    blur_faces: bool = True
    blur_plates: bool = True
    allow_full_frames: bool = False  # never send a full frame unless this says so


@dataclass(frozen=True)
class HealthConfig:
    frozen_frames: int = 50  # identical consecutive frames → frozen
    black_level: float = 12.0  # mean luma below → black
    blur_threshold: float = 15.0  # variance of Laplacian below → occluded/defocused
    window_frames: int = 25


@dataclass(frozen=True)
class CameraConfig:
    id: str
    source: str
    line: tuple[float, float, float, float] | None = None  # default: horizontal line at mid-height
    line_id: str = "line-0"
    fps: float | None = None  # pace a file/synthetic source; None: as fast as the source gives
    lanes: list[Zone] = field(default_factory=list)
    mask_zones: list[Zone] = field(default_factory=list)
    roi: Zone | None = None
    motion: MotionConfig = field(default_factory=MotionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    counting: CountingConfig = field(default_factory=CountingConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    queue_frames: int = DEFAULT_QUEUE_FRAMES
    reconnect_max_s: float = 30.0


@dataclass(frozen=True)
class MetricsConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_METRICS_PORT  # 0: pick a free port (logged)


@dataclass(frozen=True)
class OutboxConfig:
    max_events: int = DEFAULT_OUTBOX_MAX_EVENTS
    ttl_s: float = DEFAULT_OUTBOX_TTL_S
    overflow: Literal["drop-oldest", "reject-new"] = "drop-oldest"


@dataclass(frozen=True)
class UplinkConfig:
    """The CoAP uplink of events to the gateway, and the gateway's ``/cfg`` directives (docs/uplink.md).

    Off unless configured: ``enabled`` unset means on when ``gateway`` is set or ``mdns`` is true.
    ``byte-budget-per-h`` caps upstream bytes per hour; unset, the gateway's ``/cfg`` value rules,
    set, the smaller of both does.
    """

    enabled: bool | None = None
    gateway: str | None = None  # coap://host[:port]: used when mDNS is off or finds no gateway
    mdns: bool = False  # browse _aiotwin-gw._udp.local.
    mdns_interfaces: list[str] = field(default_factory=list)  # empty: every interface
    prefer_gateway: str | None = None  # gateway node id to pick when mDNS finds several
    batch_events: int = DEFAULT_UPLINK_BATCH_EVENTS
    batch_bytes: int = DEFAULT_UPLINK_BATCH_BYTES
    request_timeout_s: float = DEFAULT_UPLINK_TIMEOUT_S
    retry_max_s: float = DEFAULT_UPLINK_RETRY_MAX_S
    byte_budget_per_h: int | None = None

    @property
    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        return self.gateway is not None or self.mdns


@dataclass(frozen=True)
class OffloadConfig:
    """Joint inference: unsure crops to the gateway router's bigger model (docs/offload.md)."""

    router: str | None = None  # http://host:port of `aiotwin-gateway start`; offloading is off without it
    model: str = "vehicle-cloud"
    threshold: float = 0.6  # edge confidence below which a crop is a candidate (the gateway's /cfg may lower it)
    budget_ms: float = 80.0  # the answer must come back within this (QEdgeProxy's default tau)
    min_p: float = 0.95  # required P(latency <= tau) from the router's estimate (QEdgeProxy's default rho)
    max_inflight: int = 4
    max_age_s: float = 10.0  # an older router estimate is not trusted
    probe_every_s: float = 5.0  # while the router has no observations of this node


@dataclass(frozen=True)
class SamplesConfig:
    """The sample store in the data dir (``samples.sqlite3``).

    ``enabled`` unset: on when the node learns or offloads (``[fl] enabled`` or ``[offload] router``).
    Keeping samples runs the privacy filter on unsure crops, which an inference-only node does not
    need to pay for (time and ~20-40 MB: docs/device.md, Memory).
    """

    enabled: bool | None = None
    max_samples: int = 20_000
    pseudo_label_threshold: float = DEFAULT_PSEUDO_LABEL_THRESHOLD  # a counted track's edge confidence
    pseudo_labels_per_minute: int = DEFAULT_PSEUDO_LABELS_PER_MINUTE  # per camera; 0: no pseudo-labels


@dataclass(frozen=True)
class DriftConfig:
    """Drift of the edge model's predictions, per camera (docs/device.md, "Drift").

    ``enabled`` unset: on when ``[fl] enabled`` (a drift report asks for a training round). The
    first ``reference`` predictions after a model version starts (kept in
    ``<data-dir>/drift/<camera>.json`` across restarts) are the reference; the last ``window``
    predictions are compared with it by ``metric`` (``psi``: population stability index, ``js``:
    Jensen–Shannon divergence in nats), classes and confidences (``confidence-bins`` equal bins)
    separately. Past ``threshold`` a ``drift`` event goes to the outbox; the episode ends below
    ``threshold × clear-ratio``, and a new one is reported no sooner than ``cooldown-s`` after the last.
    """

    enabled: bool | None = None
    metric: Literal["psi", "js"] = "psi"
    reference: int = 1000
    window: int = 500
    threshold: float = DEFAULT_DRIFT_THRESHOLD
    clear_ratio: float = 0.5
    cooldown_s: float = DEFAULT_DRIFT_COOLDOWN_S
    confidence_bins: int = 10


@dataclass(frozen=True)
class FlConfig:
    """Federated learning (docs/fl.md): a Flower SuperNode supervised by the daemon; off by default.

    Off, nothing of Flower or torch runs on the node. On, the SuperNode trains the bundle's task on
    the sample store (or on ``samples-npz``: arrays ``x``/``y``, for tests and experiments).
    The SuperNode dials the SuperLink over TLS, verified with ``root-certificates`` (the CA of the
    gateway's SuperLink certificate), and authenticates with the node's own Flower key
    (``auth-key``, default ``<data-dir>/fl/keys/flwr-node``, created on first start; its ``.pub``
    must be registered at the gateway: ``aiotwin-gateway fl register-node``). ``insecure = true``
    (plain HTTP, no key) is an explicit opt-in for local experiments.
    """

    enabled: bool = False
    superlink: str | None = None  # host:port of the gateway's SuperLink
    runtime_port: int = DEFAULT_FL_RUNTIME_PORT
    insecure: bool = False
    root_certificates: Path | None = None  # CA certificate of the gateway's SuperLink (required unless insecure)
    auth_key: Path | None = None  # the node's OpenSSH ECDSA private key (default <data-dir>/fl/keys/flwr-node)
    samples_npz: Path | None = None
    max_samples: int = 0  # train on the newest N samples (0: all)
    restart_max_s: float = DEFAULT_FL_RESTART_MAX_S


@dataclass(frozen=True)
class OnnxParams:
    """onnxruntime parameters (kept here so config loading never imports onnxruntime)."""

    providers: list[str] = field(default_factory=list)  # empty: best available
    trt_cache_dir: Path | None = None
    intra_op_threads: int | None = None


@dataclass(frozen=True)
class LiteRtParams:
    delegate: str = "libedgetpu.so.1"
    use_xnnpack: bool = True


@dataclass(frozen=True)
class DeviceConfig:
    cameras: list[CameraConfig] = field(default_factory=list)
    node_id: str | None = None
    data_dir: Path = Path("/var/lib/aiotwin")
    bundle: Path | None = None
    variant: str | None = None
    backend: Literal["onnx", "tflite"] | None = None
    threads: int = 2
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    uplink: UplinkConfig = field(default_factory=UplinkConfig)
    offload: OffloadConfig = field(default_factory=OffloadConfig)
    samples: SamplesConfig = field(default_factory=SamplesConfig)
    fl: FlConfig = field(default_factory=FlConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    onnx: OnnxParams = field(default_factory=OnnxParams)
    litert: LiteRtParams = field(default_factory=LiteRtParams)
    hw_root: Path = Path("/")


def load_device_config(path: Path) -> DeviceConfig:
    """Load ``device.toml``; raise :class:`aiotwin.ConfigError` listing every problem."""
    return load_toml(DeviceConfig, path)


__all__ = [
    "CameraConfig", "ClassifyConfig", "CountingConfig", "DeviceConfig", "DriftConfig", "FlConfig", "HealthConfig",
    "LiteRtParams", "MetricsConfig", "MotionConfig", "OffloadConfig", "OnnxParams", "OutboxConfig", "PrivacyConfig",
    "SamplesConfig", "TrackerConfig", "UplinkConfig", "Zone", "load_device_config",
]
