"""``python -m gateway.uplink``: the CoAP uplink alone (tests, bring-up); SIGTERM → clean exit 0.

Usage::

    python -m gateway.uplink --bind 127.0.0.1:5683 --store /var/lib/aiotwin-gw/events.sqlite3
        [--directives cfg.json] [--advertise --node-id gw-1 --mdns-interface 127.0.0.1] [-v]

Logs ``CoAP uplink listening on coap://HOST:PORT`` and then ``aiotwin-uplink ready`` on stderr.
``aiotwin-gateway start`` runs the same component inside the gateway daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aiotwin._exceptions import AiotwinError, BackendMissing
from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import run_daemon
from aiotwin.wire import DeviceDirectives, WireError, decode_directives
from gateway._exceptions import MdnsUnavailable
from gateway.uplink._server import DEFAULT_COAP_PORT, UplinkServer
from gateway.uplink._service import UplinkService

NAME = "aiotwin-uplink"
_LOG = logging.getLogger("gateway.uplink")


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` (all addresses) or ``HOST`` (port 5683)."""
    host, port = text, str(DEFAULT_COAP_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}")
    return host or "::", int(port)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway.uplink", description=__doc__.split("\n")[0])
    p.add_argument("--bind", type=parse_bind, default=("::", DEFAULT_COAP_PORT), metavar="HOST:PORT",
                   help="UDP address to serve CoAP on (default [::]:5683; port 0: a free port)")
    p.add_argument("--store", type=Path, required=True, help="SQLite event store (created if missing)")
    p.add_argument("--directives", type=Path, help="JSON file with the /cfg document devices observe "
                   "(default: the defaults, gateway = --node-id)")
    p.add_argument("--advertise", action="store_true", help="announce _aiotwin-gw._udp on mDNS")
    p.add_argument("--node-id", default="gateway", help="this gateway's node id (mDNS instance name)")
    p.add_argument("--mdns-interface", action="append", default=[], help="mDNS interface address (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    return p


def _directives(path: Path | None, node_id: str) -> DeviceDirectives:
    if path is None:
        return DeviceDirectives(gateway=node_id)
    try:
        return decode_directives(path.read_bytes())
    except OSError as exc:
        raise WireError(f"cannot read {path}: {exc.strerror}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        host, port = args.bind
        server = UplinkServer(args.store, host=host, port=port, directives=_directives(args.directives, args.node_id))
        service = UplinkService(server, node_id=args.node_id, advertise=args.advertise,
                                interfaces=tuple(args.mdns_interface))
        return int(asyncio.run(run_daemon(service, name=NAME, logger=_LOG)))
    except BackendMissing as exc:
        _LOG.error("%s", exc)
        return int(ExitCode.BACKEND_MISSING)
    except MdnsUnavailable as exc:
        _LOG.error("%s", exc)
        return int(ExitCode.GATEWAY_MDNS_UNAVAILABLE)
    except AiotwinError as exc:
        _LOG.error("%s", exc, exc_info=args.verbose)
        return int(ExitCode.FAILURE)


if __name__ == "__main__":
    sys.exit(main())
