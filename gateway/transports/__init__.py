"""Gateway transports: one module per protocol (STYLE rule 2), imported explicitly.

- :mod:`gateway.transports.mdns`: DNS-SD over mDNS — inference instances (``_aiotwin-infer._tcp``,
  advertise and browse) and the CoAP uplink (``_aiotwin-gw._udp``, advertise; devices browse it with
  :mod:`aiotwin.discovery`).

Importing this package imports no transport (and so no zeroconf).
"""

__all__: list[str] = []
