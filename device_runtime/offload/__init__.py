"""Joint inference: unsure crops go to the gateway's bigger model when the router says it fits the budget.

:mod:`device_runtime.offload.policy` decides (pure); :mod:`device_runtime.offload.client` talks to
the router (``GET /v1/qos/{client}``, ``POST /v1/infer/{model}``) from its own thread.
"""

from device_runtime.offload.policy import Ask, OffloadLimits, QosEstimate, Verdict, decide

__all__ = ["Ask", "OffloadLimits", "QosEstimate", "Verdict", "decide"]
