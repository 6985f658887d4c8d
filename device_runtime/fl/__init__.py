"""Federated learning on the camera node: a supervised Flower SuperNode (``[fl]``, docs/fl.md).

Importing this package imports neither flwr nor torch (the ClientApp runs in Flower's processes).
"""

from device_runtime.fl.node import SAMPLE_SOURCE, node_config, supernode_for
from device_runtime.fl.supervisor import SuperNodeSupervisor

__all__ = ["SAMPLE_SOURCE", "SuperNodeSupervisor", "node_config", "supernode_for"]
