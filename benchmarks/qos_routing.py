"""QoS routing: QEdgeProxy against round-robin, proximity and least-EWMA through real gateway processes.

A scenario file (``benchmarks/scenarios/*.toml``, format in ``benchmarks/scenarios/README.md``) names
inference instances (``aiotwin-gateway serve`` processes running the model, with an added service
delay to play a Jetson, a Raspberry Pi, a loaded node), routers (``aiotwin-gateway start``, one per
gateway), the RTT of every router → instance link and of every client's access link (userspace link
emulator, ``aiotwin netem run``), clients and a timeline (load phases, one instance killed, one link
degraded). One Poisson arrival trace is drawn from the scenario's seed, saved to ``DIR/trace.json``
and replayed open loop, identically, against every policy; everything is restarted between policies.
Latency is measured end to end at the client. Then the router hop's own overhead is measured against
a direct call and against nginx (Debian package, started here) at 100, 300 and 1,000 requests/s open
loop. Definitions: ``benchmarks/README.md``.

    .venv/bin/python benchmarks/qos_routing.py [--scenario FILE.toml] [--out DIR] [--policies a,b]
        [--trace DIR/trace.json] [--overhead-rates 100,300,1000] [--overhead-s 6] [--no-overhead]
        [--save-requests] [--quick]

Writes ``DIR/qos.json`` (``{policy: {satisfied_frac, p50_ms, p95_ms, p99_ms, misses, per_instance,
recovery_s}}``), ``DIR/qos.png``, ``DIR/trace.json`` and ``DIR/qos_routing.json`` (everything).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    ROOT,
    Daemon,
    Run,
    Target,
    base_parser,
    console,
    cpu_seconds,
    finite,
    fmt,
    print_table,
    process_tree,
    rel,
)

SCENARIOS = ROOT / "benchmarks" / "scenarios"
DEFAULT_POLICIES = ("qedgeproxy", "round-robin", "proximity", "least-ewma")
KNOWN_POLICIES = ("qedgeproxy", "round-robin", "random", "proximity", "least-ewma", "p2c-ewma", "p2c-inflight")
BIN = Path(sys.executable).parent
SATISFIED_TARGET = 0.98  # issue: QEdgeProxy ≥ 98 % of clients satisfied in steady state
RECOVERY_TARGET_S = 5.0  # issue: recovery ≤ 5 s
CLEARLY_BELOW = 0.20  # "clearly below": ≥ 20 points fewer satisfied clients than QEdgeProxy (our reading)
OVERHEAD_RATE = 1000.0  # issue: router overhead at 1,000 requests/s open loop
ADDED_P50_TARGET_MS = 1.0
ADDED_P99_TARGET_MS = 5.0
HELD_LAG_P99_MS = 20.0  # open loop "held" at a rate: send lag p99 within this and no failed request
MIN_RATIO_BASE_MS = 0.05  # router/nginx ratios only when nginx adds at least this much
START_TIMEOUT_S = 120.0  # a process start on a busy 2-core machine (ORT session, aiohttp import)
SERIES_STEP_S = 0.5  # resolution of the plotted satisfied-clients series
RECOVERY_STEP_S = 0.1  # resolution of the recovery time
STATUS_TIMEOUT, STATUS_ERROR = 0, -1  # request outcomes without an HTTP status (CSV and counts)


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the key."""


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class Instance:
    id: str
    role: str = ""
    service_ms: float = 0.0
    distribution: str = "constant"
    sd_ms: float = 0.0
    jitter_ms: float = 0.0
    pareto_shape: float = 2.5
    max_batch: int = 1
    max_wait_ms: float = 0.0
    threads: int = 1


@dataclass(frozen=True)
class Client:
    id: str
    router: str
    access_rtt_ms: float
    rate: float


@dataclass(frozen=True)
class Degrade:
    router: str
    instance: str
    at_s: float
    rtt_ms: float
    jitter_ms: float = 0.0


@dataclass(frozen=True)
class Kill:
    instance: str
    at_s: float


@dataclass(frozen=True)
class Metrics:
    warmup_s: float = 25.0
    exclude_after_event_s: float = 10.0
    recovery_window_s: float = 5.0
    recovery_clients: float = 0.95


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    seed: int
    tau_ms: float
    rho: float
    timeout_ms: float
    bundle: Path
    variant: str
    policies: tuple[str, ...]
    metrics: Metrics
    instances: tuple[Instance, ...]
    routers: tuple[str, ...]
    rtt_ms: dict[tuple[str, str], float]  # (router, instance) → RTT
    jitter_ms: dict[tuple[str, str], float]
    clients: tuple[Client, ...]
    duration_s: float
    phases: tuple[tuple[float, float], ...]  # (at_s, scale), ascending
    kills: tuple[Kill, ...]
    degrades: tuple[Degrade, ...]
    router_extra: dict[str, Any] = field(default_factory=dict)  # copied into every router's [router]

    def events(self) -> list[tuple[float, str]]:
        """``(at_s, label)`` of every disruptive event, in time order."""
        evs = [(k.at_s, f"kill {k.instance}") for k in self.kills]
        evs += [(d.at_s, f"degrade {d.router}→{d.instance} to {d.rtt_ms:g} ms") for d in self.degrades]
        return sorted(evs)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name, "file": rel(self.path), "seed": self.seed, "tau_ms": self.tau_ms, "rho": self.rho,
            "timeout_ms": self.timeout_ms, "bundle": rel(self.bundle), "variant": self.variant,
            "metrics": asdict(self.metrics), "instances": [asdict(i) for i in self.instances],
            "routers": list(self.routers),
            "links_rtt_ms": {f"{r}→{i}": v for (r, i), v in self.rtt_ms.items()},
            "clients": [asdict(c) for c in self.clients], "duration_s": self.duration_s,
            "phases": [{"at_s": a, "scale": s} for a, s in self.phases],
            "kills": [asdict(k) for k in self.kills], "degrades": [asdict(d) for d in self.degrades],
            "router_config": self.router_extra,
        }


def _need(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ScenarioError(f"{where}: missing key {key!r}")
    return table[key]


def _known(table: dict[str, Any], keys: Sequence[str], where: str) -> None:
    extra = sorted(set(table) - set(keys))
    if extra:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(extra)}")


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return [value] if isinstance(value, dict) else list(value)


def _clients(entries: list[dict[str, Any]], routers: Sequence[str]) -> list[Client]:
    out = []
    for k, e in enumerate(entries):
        where = f"clients[{k}]"
        _known(e, ("id", "router", "count", "access_rtt_ms", "rate"), where)
        router, count = _need(e, "router", where), int(e.get("count", 1))
        if router not in routers:
            raise ScenarioError(f"{where}: router {router!r} is not in [[routers]]")
        rtt = _need(e, "access_rtt_ms", where)
        lo, hi = (float(rtt[0]), float(rtt[1])) if isinstance(rtt, list) else (float(rtt), float(rtt))
        for j in range(count):
            name = _need(e, "id", where) if count == 1 else f"{e['id']}-{j + 1:02d}"
            access = lo if count == 1 else lo + (hi - lo) * j / (count - 1)
            out.append(Client(name, router, round(access, 3), float(e.get("rate", 4.0))))
    return out


def _links(table: dict[str, Any], routers: Sequence[str], instances: Sequence[str]) -> tuple[dict, dict]:
    _known(table, ("columns", "rtt_ms", "jitter_ms"), "links")
    cols = list(_need(table, "columns", "links"))
    if sorted(cols) != sorted(instances):
        raise ScenarioError(f"links.columns {cols} must list every instance once: {list(instances)}")
    rtt: dict[tuple[str, str], float] = {}
    for row in _need(table, "rtt_ms", "links"):
        router, values = row[0], row[1:]
        if router not in routers or len(values) != len(cols):
            raise ScenarioError(f"links.rtt_ms row {row}: need a router id and {len(cols)} RTTs")
        rtt.update({(router, inst): float(v) for inst, v in zip(cols, values, strict=True)})
    missing = [r for r in routers if (r, cols[0]) not in rtt]
    if missing:
        raise ScenarioError(f"links.rtt_ms: no row for router(s) {', '.join(missing)}")
    jitter = {key: float(table.get("jitter_ms", 0.0)) for key in rtt}
    return rtt, jitter


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, everything else (arrays too) is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_scenario(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The TOML of ``path``; with ``base = "other.toml"`` (relative to it) that file is read first."""
    if path.resolve() in seen:
        raise ScenarioError(f"{path}: base files form a cycle")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(_read_scenario(path.parent / str(base), (*seen, path.resolve())), data)


def load_scenario(path: Path) -> Scenario:
    """Parse and check a scenario TOML file (see ``benchmarks/scenarios/README.md``)."""
    data = _read_scenario(path)
    _known(data, ("name", "description", "seed", "tau_ms", "rho", "timeout_ms", "bundle", "variant", "policies",
                  "metrics", "router", "instances", "routers", "links", "clients", "timeline"), path.name)
    instances = []
    for k, e in enumerate(_need(data, "instances", path.name)):
        _known(e, list(Instance.__dataclass_fields__), f"instances[{k}]")
        instances.append(Instance(**e))
    ids = [i.id for i in instances]
    routers = [_need(r, "id", f"routers[{k}]") for k, r in enumerate(_need(data, "routers", path.name))]
    if len(set(ids)) != len(ids) or len(set(routers)) != len(routers):
        raise ScenarioError("instance and router ids must be unique")
    rtt, jitter = _links(_need(data, "links", path.name), routers, ids)
    timeline = _need(data, "timeline", path.name)
    _known(timeline, ("duration_s", "phases", "kill", "degrade"), "timeline")
    kills = [Kill(str(e["instance"]), float(e["at_s"])) for e in _as_list(timeline.get("kill"))]
    degrades = [Degrade(**{k: (v if k in ("router", "instance") else float(v)) for k, v in e.items()})
                for e in _as_list(timeline.get("degrade"))]
    for ev in [*kills, *degrades]:
        if ev.instance not in ids:
            raise ScenarioError(f"timeline: unknown instance {ev.instance!r}")
    phases = sorted((float(p["at_s"]), float(p["scale"])) for p in timeline.get("phases", [{"at_s": 0, "scale": 1}]))
    if phases[0][0] > 0:
        phases.insert(0, (0.0, 1.0))
    bundle = str(data.get("bundle", "edge"))
    from aiotwin.bundle import default_bundle_dir

    bundle_dir = default_bundle_dir(bundle) if bundle in ("edge", "cloud") else (path.parent / bundle).resolve()
    metrics = data.get("metrics", {})
    _known(metrics, list(Metrics.__dataclass_fields__), "metrics")
    policies = tuple(data.get("policies", DEFAULT_POLICIES))
    return Scenario(
        name=str(data.get("name", path.stem)), path=path, seed=int(data.get("seed", 1)),
        tau_ms=float(data.get("tau_ms", 80.0)), rho=float(data.get("rho", 0.95)),
        timeout_ms=float(data.get("timeout_ms", 1000.0)), bundle=bundle_dir,
        variant=str(data.get("variant", "onnx-fp32")),
        policies=policies, metrics=Metrics(**{k: float(v) for k, v in metrics.items()}), instances=tuple(instances),
        routers=tuple(routers), rtt_ms=rtt, jitter_ms=jitter,
        clients=tuple(_clients(_need(data, "clients", path.name), routers)),
        duration_s=float(_need(timeline, "duration_s", "timeline")), phases=tuple(phases), kills=tuple(kills),
        degrades=tuple(degrades), router_extra=dict(data.get("router", {})),
    )


# --------------------------------------------------------------------------- arrival trace


def make_trace(sc: Scenario) -> list[tuple[float, str]]:
    """Poisson arrivals per client, rate × the phase's scale, piecewise (memoryless: exact at boundaries)."""
    rng = random.Random(sc.seed)
    bounds = [*[a for a, _ in sc.phases], sc.duration_s]
    out: list[tuple[float, str]] = []
    for c in sc.clients:
        for (start, scale), end in zip(sc.phases, bounds[1:], strict=True):
            rate = c.rate * scale
            if rate <= 0 or end <= start:
                continue
            t = start + rng.expovariate(rate)
            while t < min(end, sc.duration_s):
                out.append((round(t, 6), c.id))
                t += rng.expovariate(rate)
    return sorted(out)


def save_trace(path: Path, sc: Scenario, trace: list[tuple[float, str]]) -> None:
    doc = {"scenario": sc.name, "seed": sc.seed, "duration_s": sc.duration_s, "requests": len(trace),
           "arrivals": [[t, c] for t, c in trace]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def load_trace(path: Path, sc: Scenario) -> list[tuple[float, str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    known = {c.id for c in sc.clients}
    trace = [(float(t), str(c)) for t, c in doc["arrivals"]]
    unknown = {c for _, c in trace} - known
    if unknown:
        raise ScenarioError(f"{path}: clients not in the scenario: {', '.join(sorted(unknown))}")
    return sorted(trace)


# --------------------------------------------------------------------------- TOML out (configs we write)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def toml_dumps(table: dict[str, Any], prefix: str = "") -> str:
    """A nested dict as TOML: scalars, sub-tables and arrays of tables (enough for our configs)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in table.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))]
    parts = ["\n".join(lines)] if lines else []
    for k, v in table.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            parts.append(f"[{name}]\n" + toml_dumps(v, name))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            parts += [f"[[{name}]]\n" + toml_dumps(item, name) for item in v]
    return "\n".join(p.rstrip("\n") for p in parts) + "\n"


# --------------------------------------------------------------------------- processes


class Netem:
    """``aiotwin netem run`` in a subprocess; the JSON line on stdout gives the bound addresses."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen([str(BIN / "aiotwin"), "netem", "run", "--config", str(config),
                                      "--control", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.info: dict[str, Any] = {}
        self.lines: list[str] = []
        self._got = threading.Event()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with suppress(ValueError):
                self.info = json.loads(line)
                self._got.set()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._got.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("netem did not start:\n" + "\n".join(self.lines[-20:]))

    def link(self, name: str) -> str:
        return str(self.info["links"][name])

    @property
    def control(self) -> str:
        return str(self.info["control"])


class Stack:
    """Every subprocess of one phase; :meth:`close` stops them all (SIGTERM together, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[str]]] = []

    def add(self, name: str, proc: subprocess.Popen[str]) -> None:
        self.procs.append((name, proc))

    def close(self, grace_s: float = 10.0) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                with suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for _, p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()


def _start_instance(stack: Stack, inst: Instance, sc: Scenario, workdir: Path, seed: int) -> Daemon:
    serve: dict[str, Any] = {
        "bundle": str(sc.bundle), "variant": sc.variant, "host": "127.0.0.1", "port": 0, "node-id": inst.id,
        "max-batch": inst.max_batch, "max-wait-ms": inst.max_wait_ms, "threads": inst.threads,
        "service-delay": {"ms": inst.service_ms, "distribution": inst.distribution, "sd-ms": inst.sd_ms,
                          "jitter-ms": inst.jitter_ms, "pareto-shape": inst.pareto_shape, "seed": seed},
        "mdns": {"enabled": False},
    }
    cfg = workdir / f"instance-{inst.id}.toml"
    cfg.write_text(toml_dumps({"serve": serve}), encoding="utf-8")
    d = Daemon([str(BIN / "aiotwin-gateway"), "serve", "--config", str(cfg)])
    stack.add(f"instance {inst.id}", d.proc)
    return d


def _start_router(stack: Stack, router: str, policy: str, sc: Scenario, *, workdir: Path, urls: dict[str, str],
                  seed: int) -> Daemon:
    extra = {k: v for k, v in sc.router_extra.items() if k not in ("policy", "seed", "http", "mdns", "instances")}
    qos = {"tau-ms": sc.tau_ms, "rho": sc.rho, **extra.pop("qos", {})}
    table: dict[str, Any] = {
        "policy": policy, "seed": seed, "qos": qos, **extra,
        "http": {"host": "127.0.0.1", "port": 0, "timeout-ms": sc.timeout_ms},
        "mdns": {"enabled": False},
        "instances": [{"id": i.id, "url": urls[i.id], "rtt-ms": sc.rtt_ms[(router, i.id)]} for i in sc.instances],
    }
    cfg = workdir / f"router-{router}.toml"
    cfg.write_text(toml_dumps({"router": table}), encoding="utf-8")
    # --no-coap: the benchmark needs only the HTTP hop, not the devices' CoAP uplink and its event store
    d = Daemon([str(BIN / "aiotwin-gateway"), "start", "--config", str(cfg), "--no-coap"])
    stack.add(f"router {router}", d.proc)
    return d


def _netem(stack: Stack, workdir: Path, name: str, seed: int, links: list[dict[str, Any]]) -> Netem:
    cfg = workdir / f"netem-{name}.toml"
    cfg.write_text(toml_dumps({"seed": seed, "links": links}), encoding="utf-8")
    n = Netem(cfg)
    stack.add(f"netem {name}", n.proc)
    return n


def _link(name: str, listen_target: str, rtt_ms: float, jitter_ms: float) -> dict[str, Any]:
    """A TCP link with ``rtt_ms`` split over both directions (jitter likewise)."""
    return {"name": name, "protocol": "tcp", "listen": "127.0.0.1:0", "target": listen_target,
            "distribution": "constant", "delay-ms": rtt_ms / 2, "jitter-ms": jitter_ms / 2}


def _hostport(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def _core_link(router: str, inst: str) -> str:
    return f"{router}--{inst}"


# --------------------------------------------------------------------------- load generation


@dataclass
class Samples:
    """One replay: per request its client index, trace time, send lag, latency (inf: miss), status, instance."""

    t: np.ndarray
    client: np.ndarray
    lag_ms: np.ndarray
    ms: np.ndarray
    status: np.ndarray
    instance: list[str]


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 as expected."""


class RawClient:
    """A minimal HTTP/1.1 keep-alive client for one client id and one address: POST, read the answer.

    The load generator shares the 2 cores with the system under test, so it uses pre-encoded requests
    and a small parser (about a quarter of aiohttp's CPU per request). Idle connections are reused;
    a reused one that was closed by the server before answering is retried once on a fresh one.
    """

    def __init__(self, url: str, path: str, client: str, body: bytes, max_connections: int = 100) -> None:
        host, _, port = _hostport(url).rpartition(":")
        self.slots = asyncio.Semaphore(max_connections)  # like aiohttp's default connector limit
        self.addr = (host, int(port))
        self.request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Client-Id: {client}\r\n"
                        f"Content-Type: application/x-aiotwin-tensor\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode("ascii") + body
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self) -> tuple[int, str]:
        """``(status, X-Aiotwin-Instance)``; raises :class:`HttpError` (or OSError) on a broken exchange."""
        async with self.slots:
            return await self._post()

    async def _post(self) -> tuple[int, str]:
        for attempt in (0, 1):
            reused = bool(self.idle) and attempt == 0
            reader, writer = self.idle.pop() if reused else await asyncio.open_connection(*self.addr)
            try:
                writer.write(self.request)
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers = self._head(head)
                if "content-length" in headers:
                    await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    await self._chunked(reader)
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                else:
                    self.idle.append((reader, writer))
                return status, headers.get("x-aiotwin-instance", "")
            except asyncio.IncompleteReadError as exc:
                writer.close()
                if not (reused and not exc.partial):
                    raise HttpError("connection closed mid-answer") from exc
            except BaseException:
                writer.close()
                raise
        raise HttpError("connection closed before answering")

    @staticmethod
    def _head(head: bytes) -> tuple[int, dict[str, str]]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def replay(trace: list[tuple[float, str]], urls: dict[str, str], clients: Sequence[str], *, body: bytes,
                 timeout_s: float, events: Sequence[tuple[float, Callable[[], Any]]] = (),
                 path: str = "/v1/infer/vehicle") -> Samples:
    """Send every arrival at its trace time (open loop) through ``urls[client]``; ``events`` run at their times.

    Latency runs from the request's trace time (when it was due, so a late send counts: open-loop
    semantics without coordinated omission) to the answer body read; a non-200 answer, a broken
    connection or no answer within ``timeout_s`` is a miss with latency inf. ``lag_ms`` is how late each
    request started against its trace time (the load generator's own delay, part of the latency).
    """
    loop = asyncio.get_running_loop()
    index = {c: k for k, c in enumerate(clients)}
    n = len(trace)
    lag, ms, status = np.zeros(n), np.full(n, math.inf), np.zeros(n, dtype=np.int32)
    inst = [""] * n
    conns = {c: RawClient(url, path, c, body) for c, url in urls.items()}
    t0 = loop.time() + 0.2
    draining: set[asyncio.Task[tuple[int, str]]] = set()

    async def one(i: int, client: str, t: float) -> None:
        due = t0 + t
        lag[i] = (loop.time() - due) * 1e3
        exchange = asyncio.create_task(conns[client].post())
        done, _ = await asyncio.wait({exchange}, timeout=max(0.0, due + timeout_s - loop.time()))
        if not done:
            # A miss. The exchange goes on in the background and gives its connection back when the late
            # answer arrives (the routers' upstream timeout bounds it), instead of closing it: closing
            # every timed-out connection makes a connection storm that keeps an overloaded machine sick.
            status[i] = STATUS_TIMEOUT
            draining.add(exchange)
            exchange.add_done_callback(_drained)
            return
        try:
            status[i], inst[i] = exchange.result()
        except (HttpError, OSError, ValueError):
            status[i] = STATUS_ERROR
            return
        if status[i] == 200:
            ms[i] = (loop.time() - due) * 1e3

    def _drained(task: asyncio.Task[tuple[int, str]]) -> None:
        draining.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure of a request already counted as a miss

    async def at(t: float, fn: Callable[[], Any]) -> None:
        await asyncio.sleep(max(0.0, t0 + t - loop.time()))
        out = fn()
        if asyncio.iscoroutine(out):
            await out

    side = [asyncio.create_task(at(t, fn)) for t, fn in events]
    tasks = []
    try:
        for i, (t, client) in enumerate(trace):
            delay = t0 + t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, client, t)))
        await asyncio.gather(*tasks, *side)
    finally:
        for task in [*tasks, *side, *draining]:
            task.cancel()
        await asyncio.gather(*tasks, *side, *draining, return_exceptions=True)
        for c in conns.values():
            c.close()
    return Samples(np.array([t for t, _ in trace]), np.array([index[c] for _, c in trace], dtype=np.int64),
                   lag, ms, status, inst)


async def put_link(control: str, name: str, rtt_ms: float, jitter_ms: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.put(f"{control}/links/{name}",
                                                   json={"delay_ms": rtt_ms / 2, "jitter_ms": jitter_ms / 2}) as r:
        if r.status != 200:
            raise RuntimeError(f"netem PUT /links/{name}: HTTP {r.status} {await r.text()}")


async def _get_text(url: str) -> str:
    import aiohttp

    with suppress(aiohttp.ClientError, TimeoutError, OSError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s, s.get(url) as r:
            return await r.text()
    return ""


def _metric_sum(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (not label or label in line):
            with suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return total


# --------------------------------------------------------------------------- one policy, end to end


def _body(sc: Scenario) -> bytes:
    from aiotwin.bundle import load_bundle
    from gateway.serve import encode_tensor

    spec = load_bundle(sc.bundle).manifest.input
    rng = np.random.default_rng(sc.seed)
    return encode_tensor(rng.integers(0, 256, (spec.height, spec.width, spec.channels), dtype=np.uint8))


def run_policy(policy: str, sc: Scenario, trace: list[tuple[float, str]], body: bytes) -> dict[str, Any]:
    """Start instances, links and routers fresh, replay the trace, stop everything; raw samples + router facts."""
    stack = Stack()
    with tempfile.TemporaryDirectory(prefix="qos-") as tmp:
        workdir = Path(tmp)
        try:
            t_start = time.monotonic()
            cpu_before = cpu_seconds(os.getpid())
            instances = {i.id: _start_instance(stack, i, sc, workdir, sc.seed * 1000 + k)
                         for k, i in enumerate(sc.instances)}
            for d in instances.values():
                d.wait_ready(START_TIMEOUT_S)
            core = _netem(stack, workdir, "core", sc.seed, [
                {**_link(_core_link(r, i.id), _hostport(str(instances[i.id].url)), sc.rtt_ms[(r, i.id)],
                         sc.jitter_ms[(r, i.id)])} for r in sc.routers for i in sc.instances])
            core.wait_ready(START_TIMEOUT_S)
            routers = {r: _start_router(stack, r, policy, sc, workdir=workdir,
                                        urls={i.id: "http://" + core.link(_core_link(r, i.id)) for i in sc.instances},
                                        seed=sc.seed * 100 + k) for k, r in enumerate(sc.routers)}
            for d in routers.values():
                d.wait_ready(START_TIMEOUT_S)
            access = _netem(stack, workdir, "access", sc.seed + 1, [
                _link(f"access--{c.id}", _hostport(str(routers[c.router].url)), c.access_rtt_ms, 0.0)
                for c in sc.clients])
            access.wait_ready(START_TIMEOUT_S)
            startup_s = time.monotonic() - t_start
            urls = {c.id: "http://" + access.link(f"access--{c.id}") for c in sc.clients}
            events: list[tuple[float, Callable[[], Any]]] = [
                (k.at_s, instances[k.instance].proc.kill) for k in sc.kills]
            events += [(d.at_s, lambda d=d: put_link(core.control, _core_link(d.router, d.instance), d.rtt_ms,
                                                     d.jitter_ms)) for d in sc.degrades]
            console.print(f"  {policy}: {len(sc.instances)} instances, {len(sc.routers)} routers, "
                          f"{len(sc.routers) * len(sc.instances) + len(sc.clients)} links up in {startup_s:.1f} s; "
                          f"replaying {len(trace)} requests over {sc.duration_s:g} s")
            samples = asyncio.run(replay(trace, urls, [c.id for c in sc.clients], body=body,
                                              timeout_s=sc.timeout_ms / 1e3, events=events))
            texts = {r: asyncio.run(_get_text(f"{d.url}/metrics")) for r, d in routers.items()}
            cpu = {name: round(cpu_seconds(p.pid), 2) for name, p in stack.procs}
            logs = [line for d in routers.values() for line in d.lines]
            cpu["load generator"] = round(cpu_seconds(os.getpid()) - cpu_before, 2)
        finally:
            stack.close()
    facts = {
        "startup_s": round(startup_s, 2),
        "cpu_s": cpu,  # CPU seconds used by each process over the run (the load generator: this process)
        "ejections": sum("ejected after consecutive failures" in line for line in logs),
        "returns": sum("is back in rotation" in line for line in logs),
        "retries": int(sum(_metric_sum(t, "aiotwin_router_retries_total") for t in texts.values())),
        "decisions": {reason: int(sum(_metric_sum(t, "aiotwin_router_decisions_total", f'reason="{reason}"')
                                      for t in texts.values()))
                      for reason in ("pool", "explore", "best-effort", "only")},
    }
    return {"samples": samples, "facts": facts}


# --------------------------------------------------------------------------- metrics


def steady_mask(sc: Scenario, t: np.ndarray) -> np.ndarray:
    """After warm-up, and not within ``exclude_after_event_s`` of a kill or a degrade."""
    m = t >= sc.metrics.warmup_s
    for at, _ in sc.events():
        m &= ~((t >= at) & (t < at + sc.metrics.exclude_after_event_s))
    return m


def _pct(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile (inverted CDF), so misses counted as inf never interpolate into NaN."""
    if values.size == 0:
        return math.nan
    return float(np.percentile(values, q, method="inverted_cdf"))


def satisfied_windows(s: Samples, n_clients: int, starts: np.ndarray, *, window_s: float, tau_ms: float,
                      rho: float) -> np.ndarray:
    """For each start s: fraction of the clients with requests in [s, s+window) whose good fraction is ≥ ρ."""
    order = np.argsort(s.t, kind="stable")
    t, c, good = s.t[order], s.client[order], (s.ms[order] <= tau_ms).astype(np.float64)
    lo, hi = np.searchsorted(t, starts, "left"), np.searchsorted(t, starts + window_s, "left")
    out = np.full(len(starts), math.nan)
    for k, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b <= a:
            continue
        n = np.bincount(c[a:b], minlength=n_clients)
        g = np.bincount(c[a:b], weights=good[a:b], minlength=n_clients)
        active = n > 0
        out[k] = float(np.mean(g[active] / n[active] >= rho - 1e-9))
    return out


def _satisfied_from(s: Samples, n_clients: int, starts: np.ndarray, end: float, *, tau_ms: float,
                    rho: float) -> np.ndarray:
    """For each start u: fraction of the clients with requests in [u, end) whose good fraction is ≥ ρ."""
    out = np.full(len(starts), math.nan)
    good = s.ms <= tau_ms
    for k, u in enumerate(starts):
        m = (s.t >= u) & (s.t < end)
        n = np.bincount(s.client[m], minlength=n_clients)
        g = np.bincount(s.client[m], weights=good[m].astype(np.float64), minlength=n_clients)
        active = n > 0
        if active.any():
            out[k] = float(np.mean(g[active] / n[active] >= rho - 1e-9))
    return out


def recovery(sc: Scenario, s: Samples, kill_at: float) -> dict[str, Any]:
    """Recovery after the kill: how long until the clients are satisfied again, and stay so.

    The period after the kill runs to the next event (the degrade) or the end. For each u from the kill
    on (every :data:`RECOVERY_STEP_S`, while at least ``recovery_window_s`` of the period is left), each
    client is judged on its requests sent in [u, period end) — the steady-state definition applied to
    the rest of the period, so "and stay so" is part of it. ``recovery_s`` is the first u − kill at
    which ≥ ``recovery_clients`` of the clients are satisfied; 0 when they are from the kill on; None
    when never. Also: the same fraction over the steady time before the kill (the policy's own level),
    and the worst forward window of ``recovery_window_s`` after the kill (the dip).
    """
    later = [at for at, _ in sc.events() if at > kill_at]
    end = min([*later, sc.duration_s])
    w, n_clients = sc.metrics.recovery_window_s, len(sc.clients)
    starts = kill_at + np.arange(0.0, max(0.0, end - w - kill_at) + 1e-9, RECOVERY_STEP_S)
    frac = _satisfied_from(s, n_clients, starts, end, tau_ms=sc.tau_ms, rho=sc.rho)
    ok = np.flatnonzero(frac >= sc.metrics.recovery_clients - 1e-9)
    before = _satisfied_from(s, n_clients, np.array([sc.metrics.warmup_s]), kill_at, tau_ms=sc.tau_ms, rho=sc.rho)
    dips = satisfied_windows(s, n_clients, starts, window_s=w, tau_ms=sc.tau_ms, rho=sc.rho)
    return {"recovery_s": round(float(starts[ok[0]] - kill_at), 2) if ok.size else None,
            "satisfied_after_kill": round(float(frac[0]), 4) if frac.size else None,
            "satisfied_before_kill": round(float(before[0]), 4),
            "worst_window_after_kill": round(float(np.nanmin(dips)), 4) if dips.size else None}


def policy_result(sc: Scenario, s: Samples) -> dict[str, Any]:
    """The pinned ``qos.json`` fields (first) and the details for ``qos_routing.json``."""
    steady = steady_mask(sc, s.t)
    measured = s.t >= sc.metrics.warmup_s
    good = s.ms <= sc.tau_ms
    n_clients = len(sc.clients)
    per_client = []
    for k, c in enumerate(sc.clients):
        m = steady & (s.client == k)
        frac = float(good[m].mean()) if m.any() else math.nan
        per_client.append({"client": c.id, "router": c.router, "access_rtt_ms": c.access_rtt_ms,
                           "requests": int(m.sum()), "within_tau": round(frac, 4),
                           "satisfied": bool(frac >= sc.rho - 1e-9)})
    satisfied = sum(p["satisfied"] for p in per_client) / n_clients
    lat = s.ms[steady]
    inst_names = np.array(s.instance)
    per_instance = {}
    answered = measured & (inst_names != "")
    for inst in [i.id for i in sc.instances]:
        m = measured & (inst_names == inst)
        ok = m & (s.status == 200)
        per_instance[inst] = {"requests": int(m.sum()),
                              "share": round(float(m.sum() / max(1, answered.sum())), 4),
                              "within_tau": round(float(good[m].mean()), 4) if m.any() else None,
                              "p50_ms": round(_pct(s.ms[ok], 50), 2) if ok.any() else None}
    rec = recovery(sc, s, sc.kills[0].at_s) if sc.kills else {"recovery_s": None}
    out = {
        "satisfied_frac": round(satisfied, 4),
        "p50_ms": round(_pct(lat, 50), 2), "p95_ms": round(_pct(lat, 95), 2), "p99_ms": round(_pct(lat, 99), 2),
        "misses": int((measured & ~good).sum()),
        "per_instance": per_instance,
        "recovery_s": rec["recovery_s"],
    }
    details = {
        "requests": len(s.t), "steady_requests": int(steady.sum()),
        "within_tau_steady": round(float(good[steady].mean()), 4) if steady.any() else None,
        "within_tau_all": round(float(good[measured].mean()), 4) if measured.any() else None,
        "errors": int((measured & (s.status != 200)).sum()),
        "timeouts": int((measured & (s.status == STATUS_TIMEOUT)).sum()),
        "connection_errors": int((measured & (s.status == STATUS_ERROR)).sum()),
        "send_lag_ms": {"p50": round(_pct(s.lag_ms, 50), 2), "p99": round(_pct(s.lag_ms, 99), 2),
                        "max": round(float(s.lag_ms.max()), 2) if len(s.lag_ms) else None},
        "recovery": rec,
        "per_client": per_client,
    }
    return {"qos": out, "details": details}


def series(sc: Scenario, s: Samples) -> dict[str, list[float]]:
    """Satisfied fraction of the clients in the forward window starting at each time (for the plot)."""
    w = sc.metrics.recovery_window_s
    starts = np.arange(0.0, max(0.0, sc.duration_s - w) + 1e-9, SERIES_STEP_S)
    frac = satisfied_windows(s, len(sc.clients), starts, window_s=w, tau_ms=sc.tau_ms, rho=sc.rho)
    bins = np.arange(0.0, sc.duration_s, 1.0)
    p95 = [_pct(s.ms[(s.t >= b) & (s.t < b + 1.0)], 95) for b in bins]
    return {"t": [round(float(x), 2) for x in starts], "satisfied": [round(float(x), 4) for x in frac],
            "p95_t": [float(b) for b in bins], "p95_ms": [round(x, 2) for x in p95]}


# --------------------------------------------------------------------------- router overhead


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NGINX_CONF = """worker_processes 1;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_body_buffer_size 64k;
    client_max_body_size 4m;
    upstream instance {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://instance;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(stack: Stack, tmp: Path, upstream: str) -> tuple[str | None, str]:
    """nginx as a reverse proxy with upstream keep-alive, not daemonised; (url, version) or (None, why)."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        return None, "nginx not installed (Debian: apt-get install nginx-light)"
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr.strip()
    port = free_port()
    tmp.chmod(0o755)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream, port=port), encoding="utf-8")
    proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stack.add("nginx", proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            return None, f"nginx exited: {err.strip()[-300:]}"
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return f"http://127.0.0.1:{port}", version
        with suppress(subprocess.TimeoutExpired):
            proc.wait(0.1)
    return None, "nginx did not listen within 10 s"


async def open_loop(url: str, rate: float, duration_s: float, body: bytes, seed: int) -> Samples:
    """Poisson arrivals at ``rate`` for ``duration_s`` to ``url`` (open loop, one client id)."""
    rng = random.Random(seed)
    trace, t = [], rng.expovariate(rate)
    while t < duration_s:
        trace.append((t, "bench-overhead"))
        t += rng.expovariate(rate)
    return await replay(trace, {"bench-overhead": url}, ["bench-overhead"], body=body, timeout_s=2.0)


def _tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def _path_stats(ms: np.ndarray, lag: np.ndarray, *, requests: int, errors: int, seconds: float,
                cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "requests": requests, "errors": errors, "offered_per_s": round(requests / seconds, 1),
        "send_lag_ms": {"p50": round(_pct(lag, 50), 3), "p99": round(_pct(lag, 99), 3)},
        "latency_ms": {"p50": round(_pct(ms, 50), 3), "p95": round(_pct(ms, 95), 3), "p99": round(_pct(ms, 99), 3)},
        "cpu_ms_per_request": {k: round(v * 1e3 / max(1, requests), 3) for k, v in cpu.items()},
    }


def measure_overhead(sc: Scenario, body: bytes, *, seconds: float, rounds: int,
                     rates: Sequence[float]) -> dict[str, Any]:
    """One fast instance (no added delay): direct vs through ``aiotwin-gateway start`` vs through nginx.

    For each rate, each path gets ``seconds`` of Poisson open-loop traffic in ``rounds`` segments that
    rotate over the paths (load drift hits them alike). Latency includes errors as inf; the CPU time of
    the proxy (router or nginx, master and worker) and of the instance is divided by the requests sent.
    """
    stack = Stack()
    fast = Instance(id="fast", service_ms=0.0, max_batch=8, max_wait_ms=0.0, threads=1)
    out: dict[str, Any] = {"seconds_per_path": seconds, "rounds": rounds, "rates": {}}
    with tempfile.TemporaryDirectory(prefix="qos-overhead-") as tmp:
        workdir = Path(tmp)
        try:
            inst = _start_instance(stack, fast, sc, workdir, 0)
            inst.wait_ready(START_TIMEOUT_S)
            router_sc = replace(sc, instances=(fast,), routers=("gw",), rtt_ms={("gw", "fast"): 0.0}, router_extra={})
            router = _start_router(stack, "gw", "qedgeproxy", router_sc, workdir=workdir, urls={"fast": str(inst.url)},
                                   seed=1)
            router.wait_ready(START_TIMEOUT_S)
            (workdir / "nginx").mkdir()
            nginx_url, nginx_version = start_nginx(stack, workdir / "nginx", _hostport(str(inst.url)))
            out["nginx"] = nginx_version if nginx_url else None
            out["nginx_skipped"] = None if nginx_url else nginx_version
            paths = {"direct": (str(inst.url), None), "router": (str(router.url), router.proc.pid)}
            if nginx_url:
                paths["nginx"] = (nginx_url, next(p.pid for n, p in stack.procs if n == "nginx"))
            else:
                console.print(f"[yellow]nginx skipped: {nginx_version}[/]")
            for url, _ in paths.values():  # warm-up: connections, the router's first decisions
                asyncio.run(open_loop(url, 200.0, 0.5, body, 99))
            names = list(paths)
            for rate in rates:
                acc = {p: {"ms": [], "lag": [], "requests": 0, "errors": 0, "cpu": {"proxy": 0.0, "instance": 0.0}}
                       for p in paths}
                for r in range(rounds):
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        url, proxy_pid = paths[name]
                        c0 = (_tree_cpu(proxy_pid) if proxy_pid else 0.0, cpu_seconds(inst.proc.pid))
                        got = asyncio.run(open_loop(url, rate, seconds / rounds, body, 1000 + r))
                        a = acc[name]
                        a["cpu"]["proxy"] += (_tree_cpu(proxy_pid) - c0[0]) if proxy_pid else 0.0
                        a["cpu"]["instance"] += cpu_seconds(inst.proc.pid) - c0[1]
                        a["ms"] += got.ms.tolist()
                        a["lag"] += got.lag_ms.tolist()
                        a["requests"] += len(got.t)
                        a["errors"] += int((got.status != 200).sum())
                out["rates"][str(int(rate))] = _rate_result(acc, rate, seconds)
        finally:
            stack.close()
    return out


def _rate_result(acc: dict[str, dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    res: dict[str, Any] = {"paths": {p: _path_stats(np.asarray(a["ms"]), np.asarray(a["lag"]), requests=a["requests"],
                                                    errors=a["errors"], seconds=seconds, cpu=a["cpu"])
                                     for p, a in acc.items()}}
    direct = res["paths"]["direct"]["latency_ms"]
    for p in res["paths"].values():
        lat = p["latency_ms"]
        p["added_ms"] = {q: round(lat[q] - direct[q], 3) if math.isfinite(lat[q] - direct[q]) else math.nan
                         for q in ("p50", "p95", "p99")}
    if "nginx" in res["paths"]:
        r_add, n_add = res["paths"]["router"]["added_ms"], res["paths"]["nginx"]["added_ms"]
        # no ratio when nginx adds (almost) nothing measurable: the ratio would be noise over ~0
        res["router_over_nginx"] = {q: (round(r_add[q] / n_add[q], 2) if n_add[q] >= MIN_RATIO_BASE_MS else math.nan)
                                    for q in ("p50", "p99")}
    lag99 = max(p["send_lag_ms"]["p99"] for p in res["paths"].values())
    errors = sum(p["errors"] for p in res["paths"].values())
    # the generator kept its schedule (within a scheduling hiccup of this shared machine) and nothing failed
    res["open_loop_held"] = bool(lag99 <= HELD_LAG_P99_MS and errors == 0)
    res["rate"] = rate
    return res


# --------------------------------------------------------------------------- plot, tables, targets


def plot(path: Path, sc: Scenario, curves: dict[str, dict[str, list[float]]]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("[yellow]matplotlib missing (pip install -e '.[dev]'): no plot[/]")
        return None
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(3, 2))
    for policy, cur in curves.items():
        ax.plot(cur["t"], cur["satisfied"], label=policy, lw=1.4)
        ax2.plot(cur["p95_t"], [min(v, sc.timeout_ms) for v in cur["p95_ms"]], label=policy, lw=1.0)
    for a in (ax, ax2):
        a.axvspan(0, sc.metrics.warmup_s, color="0.9", lw=0)
        for at, label in sc.events():
            a.axvline(at, color="k", ls="--", lw=0.8)
            if a is ax:
                a.text(at, 1.02, " " + label, rotation=0, fontsize=8, va="bottom")
    bounds = [*[p for p, _ in sc.phases], sc.duration_s]
    for (start, scale), end in zip(sc.phases, bounds[1:], strict=True):
        ax2.text((start + end) / 2, 0.92, f"load ×{scale:g}", ha="center", fontsize=8, color="0.4",
                 transform=ax2.get_xaxis_transform())
        if start > 0:
            ax2.axvline(start, color="0.6", ls=":", lw=0.8)
    ax.axhline(sc.metrics.recovery_clients, color="r", lw=0.6, ls=":")
    ax.set_ylim(-0.02, 1.1)
    ax.set_ylabel(f"clients satisfied\n(≥{sc.rho:.0%} ≤ {sc.tau_ms:g} ms in next {sc.metrics.recovery_window_s:g} s)")
    ax.legend(loc="lower left", fontsize=8, ncol=len(curves))
    ax.set_title(f"QoS routing, scenario {sc.name}: {len(sc.clients)} clients, {len(sc.routers)} routers, "
                 f"{len(sc.instances)} instances (grey: warm-up)")
    ax2.set_yscale("log")
    ax2.axhline(sc.tau_ms, color="r", lw=0.6, ls=":")
    ax2.set_ylabel("p95 latency per 1 s (ms)")
    ax2.set_xlabel("trace time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def print_results(sc: Scenario, results: dict[str, dict[str, Any]], quick: bool) -> None:
    base = results.get("qedgeproxy", {}).get("qos", {}).get("satisfied_frac")
    rows = []
    for policy, r in results.items():
        q, d = r["qos"], r["details"]
        busiest = max(q["per_instance"].items(), key=lambda kv: kv[1]["share"])
        rows.append((policy, f"{q['satisfied_frac']:.0%}", f"{d['within_tau_steady']:.1%}" if d["within_tau_steady"]
                     is not None else "n/a", _ms(q["p50_ms"]), _ms(q["p95_ms"]), _ms(q["p99_ms"]), q["misses"],
                     "never" if q["recovery_s"] is None else f"{q['recovery_s']:.1f}",
                     f"{busiest[0]} {busiest[1]['share']:.0%}", r["facts"]["retries"],
                     fmt(q["satisfied_frac"] / base) if base else "n/a"))
    print_table(f"qos routing: scenario {sc.name}, {len(sc.clients)} clients, τ {sc.tau_ms:g} ms, ρ {sc.rho:g}, "
                f"steady state{' (quick)' if quick else ''}",
                ("policy", "satisfied clients", "≤ τ (steady)", "p50 ms", "p95 ms", "p99 ms", "misses", "recovery s",
                 "busiest instance", "retries", "× qedgeproxy"), rows)
    inst_rows = [(i.id, i.role, f"{i.distribution} {i.service_ms:g}" + (f"±{i.sd_ms:g}" if i.sd_ms else ""),
                  *[f"{results[p]['qos']['per_instance'][i.id]['share']:.0%}" for p in results])
                 for i in sc.instances]
    print_table("share of the measured requests per instance", ("instance", "plays", "service ms", *results), inst_rows)


def _ms(v: float) -> str:
    return ">timeout" if not math.isfinite(v) else f"{v:.1f}"


def print_overhead(ov: dict[str, Any]) -> None:
    rows = []
    for rate, res in ov["rates"].items():
        for name, p in res["paths"].items():
            lat, add, cpu = p["latency_ms"], p["added_ms"], p["cpu_ms_per_request"]
            direct = name == "direct"
            rows.append((rate, name, p["requests"], p["errors"], p["send_lag_ms"]["p99"], _ms(lat["p50"]),
                         _ms(lat["p99"]), "-" if direct else add["p50"], "-" if direct else add["p99"],
                         "-" if direct else cpu["proxy"], cpu["instance"]))
    print_table(f"router overhead: one instance without added delay, Poisson open loop "
                f"({ov['seconds_per_path']:g} s per path and rate, {ov['rounds']} rotating rounds)",
                ("req/s", "path", "requests", "errors", "send lag p99 ms", "p50 ms", "p99 ms", "added p50 ms",
                 "added p99 ms", "proxy CPU ms/req", "instance CPU ms/req"), rows)
    for rate, res in ov["rates"].items():
        if "router_over_nginx" in res:
            r = res["router_over_nginx"]
            console.print(f"{rate} req/s: router added latency / nginx added latency: p50 {fmt(r['p50'])}×, "
                          f"p99 {fmt(r['p99'])}×")
        if not res["open_loop_held"]:
            console.print(f"[yellow]{rate} req/s: not sustained on this machine (send lag p99 > "
                          f"{HELD_LAG_P99_MS:g} ms or "
                          f"failed requests): the latencies include load-generator delay and overload[/]")


def targets(results: dict[str, dict[str, Any]], ov: dict[str, Any] | None) -> list[Target]:
    out = []
    q = results.get("qedgeproxy", {}).get("qos")
    if q is not None:
        out.append(Target("qedgeproxy: clients satisfied (steady state)", q["satisfied_frac"], ">=", SATISFIED_TARGET))
        rec = q["recovery_s"]
        out.append(Target("qedgeproxy: recovery after the kill", math.inf if rec is None else rec, "<=",
                          RECOVERY_TARGET_S, "s"))
        out += [Target(f"{other}: clients satisfied, clearly below qedgeproxy (−{CLEARLY_BELOW:.0%})",
                       results[other]["qos"]["satisfied_frac"], "<=", round(q["satisfied_frac"] - CLEARLY_BELOW, 4))
                for other in ("round-robin", "proximity") if other in results]
    if ov is not None and str(int(OVERHEAD_RATE)) in ov["rates"]:
        add = ov["rates"][str(int(OVERHEAD_RATE))]["paths"]["router"]["added_ms"]
        out.append(Target(f"router hop added p50 at {OVERHEAD_RATE:g} req/s", add["p50"], "<=", ADDED_P50_TARGET_MS,
                          "ms"))
        out.append(Target(f"router hop added p99 at {OVERHEAD_RATE:g} req/s", add["p99"], "<=", ADDED_P99_TARGET_MS,
                          "ms"))
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=None,
                        help="scenario TOML (default benchmarks/scenarios/default.toml; --quick: quick.toml)")
    parser.add_argument("--policies", default=None, help="comma list (default: the scenario's policies)")
    parser.add_argument("--trace", type=Path, default=None, help="replay this trace.json instead of drawing one")
    parser.add_argument("--overhead-s", type=float, default=None,
                        help="seconds per path and rate of the overhead phase (default 6; --quick 2)")
    parser.add_argument("--overhead-rates", default=None,
                        help="requests/s of the overhead phase, comma list (default 100,300,1000; --quick 1000)")
    parser.add_argument("--no-overhead", action="store_true", help="skip the router-overhead phase")
    parser.add_argument("--save-requests", action="store_true",
                        help="also write every request to DIR/qos_requests.csv (policy, client, t, lag, ms, status, …)")
    args = parser.parse_args(argv)
    if args.scenario is None:
        args.scenario = SCENARIOS / ("quick.toml" if args.quick else "default.toml")
    if args.overhead_s is None:
        args.overhead_s = 2.0 if args.quick else 6.0
    if args.overhead_rates is None:
        args.overhead_rates = "1000" if args.quick else "100,300,1000"
    args.overhead_rates = [float(r) for r in args.overhead_rates.split(",") if r.strip()]
    return args


def _write_requests(f: Any, policy: str, sc: Scenario, s: Samples) -> None:
    for k in range(len(s.t)):
        f.write(f"{policy},{sc.clients[s.client[k]].id},{s.t[k]:.4f},{s.lag_ms[k]:.2f},{s.ms[k]:.2f},{s.status[k]},"
                f"{s.instance[k]}\n")


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # so every finally runs and every subprocess is stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (`cmd &`)
    try:
        sc = load_scenario(args.scenario)
    except (ScenarioError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        console.print(f"[red]{args.scenario}: {exc}[/]")
        return 2
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip()) if args.policies else sc.policies
    unknown = [p for p in policies if p not in KNOWN_POLICIES]
    if unknown:
        console.print(f"[red]unknown policies {unknown}; known: {', '.join(KNOWN_POLICIES)}[/]")
        return 2
    run = Run.start("qos_routing", args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trace = load_trace(args.trace, sc) if args.trace else make_trace(sc)
    trace_path = out / "trace.json"
    if args.trace is None or args.trace.resolve() != trace_path.resolve():
        save_trace(trace_path, sc, trace)
    body = _body(sc)
    console.print(f"scenario {sc.name} ({rel(sc.path)}): {len(sc.instances)} instances, {len(sc.routers)} routers, "
                  f"{len(sc.clients)} clients, {len(trace)} requests over {sc.duration_s:g} s "
                  f"(trace {rel(trace_path)}); policies {', '.join(policies)}")
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    t_all = time.monotonic()
    csv = (out / "qos_requests.csv").open("w", encoding="utf-8") if args.save_requests else None
    if csv is not None:
        csv.write("policy,client,t_s,send_lag_ms,latency_ms,status,instance\n")
    for policy in policies:
        raw = run_policy(policy, sc, trace, body)
        if csv is not None:
            _write_requests(csv, policy, sc, raw["samples"])
        res = policy_result(sc, raw["samples"])
        results[policy] = {**res, "facts": raw["facts"]}
        curves[policy] = series(sc, raw["samples"])
        q = res["qos"]
        console.print(f"  {policy}: {q['satisfied_frac']:.0%} clients satisfied, p95 {_ms(q['p95_ms'])} ms, "
                      f"{q['misses']} misses, recovery {q['recovery_s']} s, send lag p99 "
                      f"{res['details']['send_lag_ms']['p99']} ms")
    qos_s = time.monotonic() - t_all
    if csv is not None:
        csv.close()
    print_results(sc, results, args.quick)
    ov = None
    if not args.no_overhead:
        ov = measure_overhead(sc, body, seconds=args.overhead_s, rounds=1 if args.quick else 2,
                              rates=args.overhead_rates)
        print_overhead(ov)
    qos_doc = {p: r["qos"] for p, r in results.items()}
    (out / "qos.json").write_text(json.dumps(finite(qos_doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    png = plot(out / "qos.png", sc, curves)
    params = {"scenario": rel(sc.path), "policies": list(policies), "requests": len(trace),
              "trace": rel(trace_path), "trace_replayed_from": rel(args.trace) if args.trace else None,
              "overhead_s": None if args.no_overhead else args.overhead_s, "overhead_rates": args.overhead_rates,
              "qos_phase_wall_s": round(qos_s, 1),
              "definitions": {
                  "steady": "trace time ≥ warmup_s, minus exclude_after_event_s after each kill and degrade",
                  "satisfied": "a client's requests in the steady window: fraction ≤ tau_ms (status 200) ≥ rho",
                  "latency": "client send → body read; errors and timeouts count as inf (JSON null)",
                  "misses": "requests after warm-up not answered 200 within tau_ms (transients included)",
                  "recovery_s": "first u − kill (u every 0.1 s) at which ≥ recovery_clients of the clients are "
                                "satisfied over their requests in [u, next event or end); u stops recovery_window_s "
                                "before that end; null: never"}}
    payload = {"params": params, "scenario": sc.summary(), "results": results, "overhead": ov,
               "series": curves, "files": {"qos": rel(out / "qos.json"), "plot": rel(Path(png)) if png else None,
                                           "trace": rel(trace_path)}}
    run.finish(payload, targets(results, ov))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every subprocess was stopped, no result written[/]")
        sys.exit(130)
