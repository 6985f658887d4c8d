"""``aiotwin-gateway start``: run the gateway daemon (SIGTERM → clean shutdown, exit 0).

The QEdgeProxy router, the devices' CoAP uplink and, with ``[fl]`` on, the gateway's FL role
(:mod:`gateway.daemon`). Options override the ``[router]`` and ``[fl]`` tables of ``--config``
(when given) field by field; ``--instance`` adds to the configured ``[[router.instances]]``;
``--fl-coordinator`` turns FL on unless ``--no-fl``. The router and FL packages are imported inside
the verb, so ``--help`` stays light.
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

from gateway.cli._app import DEFAULT_DATA_DIR, app, guarded
from gateway.config import FL_DIR, FlConfig
from gateway.router.config import RouterConfig
from gateway.router.factory import POLICIES
from gateway.router.http_config import DEFAULT_ROUTER_PORT, DEFAULT_UPSTREAM_TIMEOUT_MS, StaticInstance
from gateway.uplink import DEFAULT_COAP_PORT, EVENTS_FILE

_Opt = typer.Option


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


def build_fl_config(base: FlConfig, *, enabled: bool | None, coordinator: str | None, port: int | None,
                    insecure: bool) -> FlConfig:
    """``base`` with the FL options that were given; ``--fl-coordinator`` turns FL on unless ``--no-fl``."""
    on = enabled if enabled is not None else base.enabled or coordinator is not None
    return replace(base, enabled=on, coordinator=coordinator or base.coordinator,
                   port=base.port if port is None else port, insecure=base.insecure or insecure)


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
    data_dir: Annotated[Path, _Opt("--data-dir", help=f"The uplink's event store ({EVENTS_FILE}) and the FL "
                                   f"work dir ({FL_DIR}/).")] = DEFAULT_DATA_DIR,
    node_id: Annotated[str | None, _Opt("--node-id", help="This gateway's id (mDNS name, /cfg, FL gateway "
                                        "id); default: the host name.")] = None,
    fl: Annotated[bool | None, _Opt("--fl/--no-fl", help="Run the gateway's federated learning (\\[fl]; "
                                    "default: its enabled, or on with --fl-coordinator).")] = None,
    fl_coordinator: Annotated[str | None, _Opt("--fl-coordinator", metavar="HOST:PORT",
                                               help="The coordinator's SuperLink (turns FL on).")] = None,
    fl_port: Annotated[int | None, _Opt("--fl-port", min=1, max=65535, help="Port of the edge SuperLink that "
                                        "cameras dial (default: \\[fl] port, else 9092).")] = None,
    fl_insecure: Annotated[bool, _Opt("--fl-insecure", help="FL over plain HTTP without node keys, both tiers "
                                      "(local experiments only).")] = False,
) -> None:
    """The gateway: QoS router (POST /v1/infer/{model}, /v1/qos/{client}, /metrics), CoAP uplink, FL if enabled."""

    def body() -> int:
        from gateway.config import load_fl_file, load_router_file, validate_fl
        from gateway.daemon import FlOptions, UplinkOptions, sync_main

        if log_level is not None:
            logging.getLogger().setLevel(log_level.value)
        base = load_router_file(config) if config is not None else RouterConfig()
        cfg = build_config(base, {"host": host, "port": port, "timeout_ms": timeout_ms},
                           {"enabled": mdns, "interfaces": tuple(mdns_interface) if mdns_interface else None},
                           instance, seed)
        fl_cfg = build_fl_config(load_fl_file(config) if config is not None else FlConfig(), enabled=fl,
                                 coordinator=fl_coordinator, port=fl_port, insecure=fl_insecure)
        validate_fl(fl_cfg, config)
        node = node_id or default_node_id()
        uplink = None
        if coap:
            uplink = UplinkOptions(data_dir, node, coap_host, coap_port, advertise=cfg.mdns.enabled,
                                   interfaces=cfg.mdns.interfaces)
        fl_opts = FlOptions(fl_cfg, data_dir / FL_DIR, node) if fl_cfg.enabled else None
        return int(sync_main(cfg, policy=policy, uplink=uplink, fl=fl_opts))

    guarded(body)


__all__ = ["LogLevel", "build_config", "build_fl_config", "default_node_id", "start"]
