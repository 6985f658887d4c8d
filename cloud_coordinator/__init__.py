"""The cloud coordinator: the top tier of hierarchical federated learning (docs/fl.md).

For now it holds its federated-learning part (:mod:`cloud_coordinator.fl`: a Flower SuperLink and
the global ServerApp that aggregates the gateways), its model store (:mod:`cloud_coordinator.models`:
every published global model as a bundle, indexed in SQLite) and the ``aiotwin-coordinator``
console script (:mod:`cloud_coordinator.cli`). Registry, API, dashboard, gossip, enrolment and OTA
build around them later. Importing this package imports neither flwr nor torch.
"""

from cloud_coordinator._exceptions import (
    BundleRejected,
    CoordinatorError,
    CoordinatorNotRunning,
    FlRunNotFound,
    ModelNotFound,
    ModelStoreError,
    ModelVersionExists,
)

__all__ = ["BundleRejected", "CoordinatorError", "CoordinatorNotRunning", "FlRunNotFound", "ModelNotFound",
           "ModelStoreError", "ModelVersionExists"]
