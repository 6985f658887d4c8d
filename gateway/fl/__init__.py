"""The gateway's federated learning: its edge SuperLink and aggregation, and its place in the cloud tier.

See docs/fl.md.

Importing this package imports neither flwr nor torch: Flower runs in its own processes.
"""

from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig, EdgeResult
from gateway.fl.cloud import CloudBridge, EdgeDefaults, FederationConfig, GatewayFederation

__all__ = ["DEFAULT_SUPERLINK_PORT", "CloudBridge", "EdgeAggregator", "EdgeAggregatorConfig", "EdgeDefaults",
           "EdgeResult", "FederationConfig", "GatewayFederation"]
