"""The gateway's CoAP uplink (RFC 7252): devices send events, observe their directives.

Resources (``coap://<gateway>:5683``; ``/.well-known/core`` lists them)::

    POST /events[?node=<device node id>]   JSON array of wire events (content-format 50) → 2.04
    GET  /cfg   (Observe)                  the DeviceDirectives document, JSON

- :class:`UplinkServer`: the component ``aiotwin-gateway start`` runs (``start()``/``close()``);
  ``python -m gateway.uplink`` runs it alone.
- :class:`EventStore`: the durable SQLite store behind ``/events`` (event id = primary key).

aiocoap is imported only by :meth:`UplinkServer.start` (extra ``gateway``); importing this package
needs no extra. docs/uplink.md documents payloads, response codes and limits.
"""

from gateway.uplink._server import DEFAULT_BIND_HOST, DEFAULT_COAP_PORT, DirectivesProvider, UplinkServer, UplinkStats
from gateway.uplink._service import UplinkService
from gateway.uplink._store import EVENTS_FILE, EventStore, PutResult, StoreStats

__all__ = [
    "DEFAULT_BIND_HOST", "DEFAULT_COAP_PORT", "EVENTS_FILE", "DirectivesProvider", "EventStore", "PutResult",
    "StoreStats", "UplinkServer", "UplinkService", "UplinkStats",
]
