"""The cloud tier's ClientApp, run by each gateway's SuperNode (component ``aiotwin.flower.gateway_client_app:app``).

It does not train. For a ``train`` message from the coordinator's global ServerApp it queues the
edge job of that global round on its gateway daemon's bridge (node-config ``bridge-dir``,
:mod:`aiotwin.flower.cloud`), waits at most the request's bridge timeout for the result of the
gateway's local rounds, and replies with the aggregate as a delta against the global weights and
the summed example count. No nested ``flwr run``: the gateway daemon owns the edge loop. Anything
that prevents a result comes back as a Flower ``Error`` (:data:`~aiotwin.flower.protocol.ERROR_CODE_TRAIN`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from flwr.app import Context, Error, Message
from flwr.clientapp import ClientApp

from aiotwin._exceptions import AiotwinError
from aiotwin.flower._exceptions import ClientTrainError
from aiotwin.flower.cloud import (
    NODE_BRIDGE_DIR,
    NODE_GATEWAY_ID,
    REC_EDGE,
    EdgeRequest,
    bridge_reply,
    submit_to_bridge,
    wait_bridge,
)
from aiotwin.flower.job import JobQueue
from aiotwin.flower.protocol import ERROR_CODE_TRAIN
from aiotwin.flower.records import parse_instruction, reply_content

_LOG = logging.getLogger("aiotwin.flower.gateway_client_app")
_NEVER = threading.Event()

app = ClientApp()


def handle_train(msg: Any, context: Any) -> Any:
    """Hand the global model to the gateway's edge loop and reply with its aggregate (or an error)."""
    try:
        instruction, weights = parse_instruction(msg.content)
        if REC_EDGE not in msg.content.config_records:
            raise ClientTrainError(f"cloud-tier train message needs the {REC_EDGE!r} record")
        request = EdgeRequest.from_config(dict(msg.content.config_records[REC_EDGE]))
        bridge = context.node_config.get(NODE_BRIDGE_DIR)
        if not bridge:
            raise ClientTrainError(f"this SuperNode names no gateway bridge (node-config {NODE_BRIDGE_DIR})")
        queue = JobQueue(Path(str(bridge)))
        client_id = str(context.node_id)
        run = submit_to_bridge(queue, instruction, request, weights, client_id)
        status = wait_bridge(run, queue, request.bridge_timeout_s, sleep=_NEVER.wait)
        gateway_id = str(context.node_config.get(NODE_GATEWAY_ID, ""))
        result = bridge_reply(run, status, instruction, weights, client_id=client_id, gateway_id=gateway_id)
    except AiotwinError as exc:
        _LOG.error("no edge result: %s", exc)
        return Message(Error(ERROR_CODE_TRAIN, str(exc)), reply_to=msg)
    return Message(reply_content(result.frame, result.num_examples, result.metrics, result.meta), reply_to=msg)


@app.train()  # type: ignore[untyped-decorator]
def train(msg: Message, context: Context) -> Message:
    return handle_train(msg, context)


__all__ = ["app", "handle_train", "train"]
