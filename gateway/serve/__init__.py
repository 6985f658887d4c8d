"""``aiotwin-gateway serve``: one inference instance serving one bundle variant over HTTP.

Pieces (private modules, public names re-exported here):

- :mod:`._codec` — request bodies → payloads, pure (content types, the tensor header, image headers);
- :mod:`._worker` — the one inference thread: decode, classify, added service delay;
- :mod:`._batcher` — micro-batching on the event loop;
- :mod:`._http` — aiohttp routes ``/v1/infer/{model}``, ``/v1/load``, ``/healthz``, ``/metrics``;
- :mod:`._server` — :class:`InferenceServer`, the daemon composing them (+ mDNS advertisement).

See ``docs/gateway-serve.md``. Importing this package imports neither OpenCV nor an inference
runtime: the worker thread loads them when the server starts.
"""

from gateway.serve._batcher import MicroBatcher
from gateway.serve._codec import (
    CONTENT_TYPES,
    CT_JPEG,
    CT_OCTET,
    CT_PNG,
    CT_TENSOR,
    MAX_IMAGE_PIXELS,
    TENSOR_HEADER,
    TENSOR_MAGIC,
    TENSOR_SHAPE_HEADER,
    EncodedImage,
    Payload,
    TensorInput,
    encode_tensor,
    parse_body,
    parse_tensor,
)
from gateway.serve._load import LatencyWindow, LoadStats, percentile
from gateway.serve._metrics import ServeMetrics
from gateway.serve._model import PREFERRED_VARIANTS, ServedModel, choose_variant, default_node_id, resolve_bundle
from gateway.serve._server import NAME, InferenceServer, sync_main
from gateway.serve._worker import BatchResult, InferenceWorker, Prediction

__all__ = [
    "CONTENT_TYPES",
    "CT_JPEG",
    "CT_OCTET",
    "CT_PNG",
    "CT_TENSOR",
    "MAX_IMAGE_PIXELS",
    "NAME",
    "PREFERRED_VARIANTS",
    "TENSOR_HEADER",
    "TENSOR_MAGIC",
    "TENSOR_SHAPE_HEADER",
    "BatchResult",
    "EncodedImage",
    "InferenceServer",
    "InferenceWorker",
    "LatencyWindow",
    "LoadStats",
    "MicroBatcher",
    "Payload",
    "Prediction",
    "ServeMetrics",
    "ServedModel",
    "TensorInput",
    "choose_variant",
    "default_node_id",
    "encode_tensor",
    "parse_body",
    "parse_tensor",
    "percentile",
    "resolve_bundle",
    "sync_main",
]
