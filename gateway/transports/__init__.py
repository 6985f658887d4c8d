"""Gateway transports: one module per protocol (STYLE rule 2), imported explicitly.

- :mod:`gateway.transports.mdns`: DNS-SD over mDNS (``_aiotwin-infer._tcp``) — advertise and browse.

Importing this package imports no transport (and so no zeroconf).
"""

__all__: list[str] = []
