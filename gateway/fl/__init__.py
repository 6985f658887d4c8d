"""The gateway's federated-learning part: its Flower SuperLink and edge-tier aggregation (docs/fl.md).

Importing this package imports neither flwr nor torch: Flower runs in its own processes.
"""

from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig, EdgeResult

__all__ = ["DEFAULT_SUPERLINK_PORT", "EdgeAggregator", "EdgeAggregatorConfig", "EdgeResult"]
