"""The ClientApp every camera node runs (component ``aiotwin.flower.client_app:app``).

Flower starts it in a fresh ``flwr-clientapp`` process per message. A ``train`` message
(:mod:`aiotwin.flower.protocol`) makes it build the named task with the sent weights, train on the
node's samples (:mod:`aiotwin.flower.samples`) and reply with the encoded update. Anything that
prevents training comes back as a Flower ``Error`` with :data:`~aiotwin.flower.protocol.ERROR_CODE_TRAIN`
and a one-line reason, which the aggregator records for that node.
"""

from __future__ import annotations

import logging
from typing import Any

from flwr.app import Context, Error, Message
from flwr.clientapp import ClientApp

from aiotwin._exceptions import AiotwinError
from aiotwin.flower.local import local_train
from aiotwin.flower.protocol import ERROR_CODE_TRAIN
from aiotwin.flower.records import parse_instruction, reply_content

_LOG = logging.getLogger("aiotwin.flower.client_app")

app = ClientApp()


def handle_train(msg: Any, context: Any) -> Any:
    """Reply to one train message (an error reply when this node cannot train)."""
    try:
        instruction, weights = parse_instruction(msg.content)
        result = local_train(instruction, weights, dict(context.node_config), str(context.node_id))
    except AiotwinError as exc:
        _LOG.error("cannot train: %s", exc)
        return Message(Error(ERROR_CODE_TRAIN, str(exc)), reply_to=msg)
    content = reply_content(result.frame, result.num_examples, result.metrics, result.meta)
    return Message(content, reply_to=msg)


@app.train()  # type: ignore[untyped-decorator]
def train(msg: Message, context: Context) -> Message:
    return handle_train(msg, context)


__all__ = ["app", "handle_train", "train"]
