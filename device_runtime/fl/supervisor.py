"""A camera node's Flower SuperNode, started and kept running by ``aiotwin-device start`` (``[fl]``).

The supervisor itself is shared with the gateway's cloud-tier SuperNode and lives in
:mod:`aiotwin.flower.supernode`; the camera node's layout is ``<data-dir>/fl/`` (:data:`FL_DIR`):
``flwr-home/``, ``node-config.toml``, ``supernode.log``.
"""

from __future__ import annotations

from aiotwin.flower.supernode import DEFAULT_RESTART_MAX_S, STABLE_S, WATCH_POLL_S, SuperNodeSupervisor

FL_DIR = "fl"

__all__ = ["DEFAULT_RESTART_MAX_S", "FL_DIR", "STABLE_S", "WATCH_POLL_S", "SuperNodeSupervisor"]
