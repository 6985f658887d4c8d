"""``aiotwin-gateway start``: run the QEdgeProxy router (SIGTERM → clean shutdown, exit 0).

Options override the ``[router]`` table of ``--config`` (when given) field by field; ``--instance``
adds to the configured ``[[router.instances]]``. The router package is imported inside the verb, so
``--help`` stays light.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from gateway.cli._app import app, guarded
from gateway.router.config import RouterConfig
from gateway.router.factory import POLICIES
from gateway.router.http_config import DEFAULT_ROUTER_PORT, DEFAULT_UPSTREAM_TIMEOUT_MS, StaticInstance
from gateway.uplink import DEFAULT_COAP_PORT, EVENTS_FILE

_Opt = typer.Option
DEFAULT_DATA_DIR = Path("/var/lib/aiotwin-gateway")


class LogLevel(StrEnum):
    """Levels of ``--log-level`` (DEBUG logs one line per request)."""

    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"


def default_node_id() -> str:
    """The host name as a node id (one DNS label: letters, digits, '-', '_')."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]).strip("-_")
    return name[:63] or "gateway"


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def build_config(base: RouterConfig, http: dict[str, Any], mdns: dict[str, Any], instances: list[str] | None,
                 seed: int | None) -> RouterConfig:
    """``base`` with the options that were given (None = not given) replaced; ``instances`` are added."""
    extra = tuple(StaticInstance.parse(spec) for spec in instances or ())
    return replace(base, http=replace(base.http, **_given(**http)), mdns=replace(base.mdns, **_given(**mdns)),
                   instances=base.instances + extra, seed=base.seed if seed is None else seed)


@app.command()
def start(  # noqa: PLR0917 - typer maps parameters to options
    config: Annotated[Path | None, _Opt("--config", "-c", help="gateway.toml; its \\[router] table is the base.")]
    = None,
    host: Annotated[str | None, _Opt("--host", help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, _Opt("--port", min=0, max=65535, help=f"HTTP port (default {DEFAULT_ROUTER_PORT}; "
                                    "0: a free port).")] = None,
    policy: Annotated[str | None, _Opt("--policy", click_type=click.Choice(list(POLICIES)),
                                       help="Routing policy (default: the config's, else qedgeproxy).")] = None,
    instance: Annotated[list[str] | None, _Opt("--instance", help="Static instance [ID=]URL, e.g. "
                                              "http://10.0.0.7:8480 (repeat).")] = None,
    mdns: Annotated[bool | None, _Opt("--mdns/--no-mdns", help="Discover _aiotwin-infer._tcp instances by mDNS "
                                     "(default on).")] = None,
    mdns_interface: Annotated[list[str] | None, _Opt("--mdns-interface", help="Address to browse on (repeat; "
                                                    "default all).")] = None,
    timeout_ms: Annotated[float | None, _Opt("--timeout-ms", min=0.001, help="Upstream timeout per attempt "
                                            f"(default {DEFAULT_UPSTREAM_TIMEOUT_MS:g}); X-Deadline-Ms may "
                                            "shorten it.")] = None,
    seed: Annotated[int | None, _Opt("--seed", help="Seed of the policy's randomness (default: from the OS).")]
    = None,
    log_level: Annotated[LogLevel | None, _Opt("--log-level", help="DEBUG logs every request (default INFO; "
                                              "-v is DEBUG).")] = None,
    coap: Annotated[bool, _Opt("--coap/--no-coap", help="Run the devices' CoAP uplink (/events, /cfg) and "
                               "announce it as _aiotwin-gw._udp when --mdns.")] = True,
    coap_host: Annotated[str, _Opt("--coap-host", help="UDP address of the uplink.")] = "::",
    coap_port: Annotated[int, _Opt("--coap-port", min=0, max=65535, help="UDP port of the uplink (0: a free "
                                   "port).")] = DEFAULT_COAP_PORT,
    data_dir: Annotated[Path, _Opt("--data-dir", help="Where the uplink keeps the devices' events "
                                   f"({EVENTS_FILE}).")] = DEFAULT_DATA_DIR,
    node_id: Annotated[str | None, _Opt("--node-id", help="This gateway's id (mDNS name, /cfg); default: "
                                        "the host name.")] = None,
) -> None:
    """Route POST /v1/infer/{model} to inference instances by QoS; GET /v1/qos/{client}, /v1/instances, /metrics."""

    def body() -> int:
        from gateway.config import load_router_file
        from gateway.daemon import UplinkOptions, sync_main

        if log_level is not None:
            logging.getLogger().setLevel(log_level.value)
        base = load_router_file(config) if config is not None else RouterConfig()
        cfg = build_config(base, {"host": host, "port": port, "timeout_ms": timeout_ms},
                           {"enabled": mdns, "interfaces": tuple(mdns_interface) if mdns_interface else None},
                           instance, seed)
        uplink = None
        if coap:
            uplink = UplinkOptions(data_dir, node_id or default_node_id(), coap_host, coap_port,
                                   advertise=cfg.mdns.enabled, interfaces=cfg.mdns.interfaces)
        return int(sync_main(cfg, policy=policy, uplink=uplink))

    guarded(body)


__all__ = ["LogLevel", "build_config", "start"]
