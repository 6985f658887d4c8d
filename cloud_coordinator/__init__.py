"""The cloud coordinator: the top tier of hierarchical federated learning (docs/fl.md).

For now it holds its federated-learning part only (:mod:`cloud_coordinator.fl`: a Flower SuperLink
and the global ServerApp that aggregates the gateways) and the ``aiotwin-coordinator`` console
script (:mod:`cloud_coordinator.cli`). Registry, API, dashboard, gossip and enrolment build around
it later. Importing this package imports neither flwr nor torch.
"""

from cloud_coordinator._exceptions import CoordinatorError, CoordinatorNotRunning, FlRunNotFound

__all__ = ["CoordinatorError", "CoordinatorNotRunning", "FlRunNotFound"]
