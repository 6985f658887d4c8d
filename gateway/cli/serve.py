"""``aiotwin-gateway serve``: run one inference instance (SIGTERM → clean shutdown, exit 0).

Options override the ``[serve]`` table of ``--config`` (when given) field by field. The server
module (and with it the inference runtime and OpenCV, loaded on its worker thread) is imported
inside the verb, so ``--help`` stays light.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._app import app, guarded
from gateway.config import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_PORT,
    MAX_BATCH_LIMIT,
    ServeConfig,
    load_serve_config,
)

_Opt = typer.Option


class DelayDist(StrEnum):
    """Distributions of the added service delay (those of :mod:`aiotwin.netem`)."""

    constant = "constant"
    normal = "normal"
    pareto = "pareto"


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def build_config(base: ServeConfig, top: dict[str, Any], delay: dict[str, Any], mdns: dict[str, Any]) -> ServeConfig:
    """``base`` with the options that were given (None = not given) replaced."""
    return replace(base, **_given(**top), service_delay=replace(base.service_delay, **_given(**delay)),
                   mdns=replace(base.mdns, **_given(**mdns)))


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None


@app.command()
def serve(  # noqa: PLR0917 - typer maps parameters to options
    config: Annotated[Path | None, _Opt("--config", "-c", help="gateway.toml; its \\[serve] table is the base.")]
    = None,
    bundle: Annotated[Path | None, _Opt("--bundle", help="Bundle dir (default: shipped cloud, else edge).")] = None,
    variant: Annotated[str | None, _Opt("--variant", help="Variant id (default: first runnable).")] = None,
    host: Annotated[str | None, _Opt("--host", help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, _Opt("--port", min=0, max=65535, help=f"HTTP port (default {DEFAULT_PORT}; "
                                    "0: a free port).")] = None,
    max_batch: Annotated[int | None, _Opt("--max-batch", min=1, max=MAX_BATCH_LIMIT,
                                         help=f"Requests per engine batch (default {DEFAULT_MAX_BATCH}).")] = None,
    max_wait_ms: Annotated[float | None, _Opt("--max-wait-ms", min=0.0, help="Longest wait for a batch to fill "
                                             f"(default {DEFAULT_MAX_WAIT_MS}).")] = None,
    max_queue: Annotated[int | None, _Opt("--max-queue", min=1, help="Waiting requests before 503.")] = None,
    max_body_bytes: Annotated[int | None, _Opt("--max-body-bytes", min=1024, help="Larger bodies get 413.")]
    = None,
    top_k: Annotated[int | None, _Opt("--top-k", min=1, help="Labels per answer.")] = None,
    threads: Annotated[int | None, _Opt("--threads", min=1, help="Engine intra-op threads.")] = None,
    alias: Annotated[list[str] | None, _Opt("--alias", help="Extra model name the path may use (repeat).")] = None,
    delay_ms: Annotated[float | None, _Opt("--service-delay-ms", min=0.0, help="Added service time per batch "
                                          "(mean for normal, minimum for pareto).")] = None,
    delay_dist: Annotated[DelayDist | None, _Opt("--service-delay-dist",
                                                        help="constant | normal | pareto.")] = None,
    delay_sd_ms: Annotated[float | None, _Opt("--service-delay-sd-ms", min=0.0, help="SD of normal.")] = None,
    delay_jitter_ms: Annotated[float | None, _Opt("--service-delay-jitter-ms", min=0.0,
                                                 help="Uniform ± jitter on every delay.")] = None,
    delay_seed: Annotated[int | None, _Opt("--service-delay-seed", help="Seed of the delay draws.")] = None,
    mdns: Annotated[bool | None, _Opt("--mdns/--no-mdns", help="Advertise by mDNS (default on).")] = None,
    mdns_interface: Annotated[list[str] | None, _Opt("--mdns-interface", help="Address to advertise on "
                                                    "(repeat; default all).")] = None,
    node_id: Annotated[str | None, _Opt("--node-id", help="Stable instance id (default: machine id + port).")]
    = None,
) -> None:
    """Serve one bundle variant: POST /v1/infer/{model}, GET /v1/load, /healthz, /metrics."""

    def body() -> int:
        from gateway.serve import sync_main

        base = load_serve_config(config) if config is not None else ServeConfig()
        cfg = build_config(
            base,
            {"bundle": bundle, "variant": variant, "host": host, "port": port, "max_batch": max_batch,
             "max_wait_ms": max_wait_ms, "max_queue": max_queue, "max_body_bytes": max_body_bytes, "top_k": top_k,
             "threads": threads, "aliases": _tuple(alias), "node_id": node_id},
            {"ms": delay_ms, "distribution": delay_dist.value if delay_dist else None, "sd_ms": delay_sd_ms,
             "jitter_ms": delay_jitter_ms, "seed": delay_seed},
            {"enabled": mdns, "interfaces": _tuple(mdns_interface)},
        )
        return int(sync_main(cfg))

    guarded(body)


__all__ = ["DelayDist", "build_config", "serve"]
