"""The gateway's federated learning: its edge SuperLink and aggregation, and its place in the cloud tier.

See docs/fl.md. ``aiotwin-gateway start`` runs a :class:`GatewayFederation` when ``[fl]`` is on;
``aiotwin-gateway fl`` (and ``python -m gateway.fl``) use the operator steps of ``_admin``.

Importing this package imports neither flwr nor torch: Flower runs in its own processes.
"""

from gateway.fl._admin import RECENT_RUNS, edge_dir, federation_status, node_key, register_node, run_summary
from gateway.fl._metrics import FlCollector
from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig, EdgeResult
from gateway.fl.cloud import (
    FEDERATION_FILE,
    CloudBridge,
    EdgeDefaults,
    FederationConfig,
    GatewayFederation,
    cloud_key,
)

__all__ = ["DEFAULT_SUPERLINK_PORT", "FEDERATION_FILE", "RECENT_RUNS", "CloudBridge", "EdgeAggregator",
           "EdgeAggregatorConfig", "EdgeDefaults", "EdgeResult", "FederationConfig", "FlCollector",
           "GatewayFederation", "cloud_key", "edge_dir", "federation_status", "node_key", "register_node",
           "run_summary"]
