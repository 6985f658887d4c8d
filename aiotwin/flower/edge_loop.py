"""The edge tier's round loop over a Flower ``Grid``: deadline + quorum, version-checked, FedAvg or robust.

Per round: wait until ``min_nodes`` SuperNodes are connected, push one ``train`` message per
connected node (:mod:`aiotwin.flower.protocol`), pull replies every ``poll_s`` until every node
answered or the deadline passed (:class:`aiotwin.fl.RoundState`), decode each update strictly
(:func:`aiotwin.fl.decode_update`: size, shapes, finiteness; run, round and sender must match),
reject updates trained on another base version, then aggregate with :func:`aiotwin.fl.aggregate`
(the job's rule, norm clipping always on). The new model is published only when the quorum of
valid updates was met; otherwise the round keeps the old one. Replies that arrive after their
round closed are recorded as late in that round and never used. After every round the records go
to ``rounds.json`` (:class:`aiotwin.flower.job.RoundRecord`).

Only public Flower API is used: ``Grid.get_node_ids``, ``push_messages``, ``pull_messages``,
``Message``. The loop polls faster than ``Grid.send_and_receive`` (fixed 3 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Message

from aiotwin.fl import (
    NotEnoughUpdates,
    RoundPlan,
    RoundState,
    UpdateMalformed,
    UpdateRejected,
    aggregate,
    decode_update,
)
from aiotwin.flower._exceptions import EdgeJobFailed
from aiotwin.flower.job import EdgeJob, RoundRecord, RunDir
from aiotwin.flower.protocol import MESSAGE_TYPE_TRAIN, TrainInstruction, round_seed
from aiotwin.flower.records import instruction_content, record_bytes, reply_parts, weights_record
from aiotwin.models.task import Weights

_LOG = logging.getLogger("aiotwin.flower.edge_loop")
_NEVER = threading.Event()

Clock = Callable[[], float]
Sleep = Callable[[float], Any]
Evaluator = Callable[[Sequence[npt.NDArray[Any]]], dict[str, float]]
Beat = Callable[[Sequence[int], str], None]
MessageFactory = Callable[[Any, int, str, float], Any]


def _sleep(seconds: float) -> None:
    _NEVER.wait(seconds)


def train_message(content: Any, node: int, group_id: str, ttl: float) -> Any:
    """A Flower ``train`` message to ``node`` (needs the ServerApp's runtime: Flower sets the run id)."""
    return Message(content, dst_node_id=node, message_type=MESSAGE_TYPE_TRAIN, group_id=group_id, ttl=ttl)


@dataclass
class _Pending:
    """A pushed message still without a reply: which round and node it belongs to."""

    round_index: int
    node: str


@dataclass
class _Round:
    """The live state of one round while it collects replies."""

    record: RoundRecord
    state: RoundState
    instruction: TrainInstruction
    shapes: list[tuple[int, ...]]
    outstanding: dict[str, str] = field(default_factory=dict)  # message id → node


class EdgeLoop:
    """Runs one :class:`EdgeJob` on ``grid``; ``stop()`` (any thread) ends the current round early."""

    def __init__(self, grid: Any, job: EdgeJob, run: RunDir, *, clock: Clock = time.monotonic,
                 wall: Clock = time.time, sleep: Sleep = _sleep, evaluator: Evaluator | None = None,
                 beat: Beat | None = None, stop_requested: Callable[[], bool] | None = None,
                 make_message: MessageFactory = train_message) -> None:
        self.grid = grid
        self.job = job
        self.run = run
        self.records: list[RoundRecord] = []
        self.base_version = job.base_version  # the version updates must be trained on (a subclass may advance it)
        self.initial_eval: dict[str, float] | None = None
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._evaluator = evaluator
        self._beat = beat or (lambda nodes, state: None)
        self._stop_requested = stop_requested or (lambda: False)
        self._late: dict[str, _Pending] = {}
        self._make_message = make_message

    # -- the job ----------------------------------------------------------------------------------

    def run_rounds(self, weights: Sequence[npt.NDArray[Any]], *, first_round: int = 1) -> Weights:
        """Rounds ``first_round``..``rounds`` from ``weights``; returns the last published model.

        ``weights`` is returned unchanged when no round published one; ``first_round`` > 1 resumes a job.
        """
        current = [np.asarray(w) for w in weights]
        if self._evaluator is not None and first_round == 1:
            self.initial_eval = self._evaluator(current)
        for r in range(first_round, self.job.rounds + 1):
            if self._stop_requested():
                raise EdgeJobFailed(f"stopped (gateway shutdown) before round {r}", run_id=self.run.run_id)
            nodes = self.wait_for_nodes()
            current = self.run_round(r, nodes, current)
        self._collect_late()
        return current

    def wait_for_nodes(self) -> list[int]:
        """Connected node ids once at least ``min_nodes`` are there; :class:`EdgeJobFailed` after the wait."""
        give_up = self._clock() + self.job.wait_nodes_s
        while True:
            nodes = sorted(int(n) for n in self.grid.get_node_ids())
            self._beat(nodes, "waiting-for-nodes")
            if len(nodes) >= self.job.min_nodes:
                return nodes
            if self._clock() >= give_up or self._stop_requested():
                raise EdgeJobFailed(f"{len(nodes)} node(s) connected after {self.job.wait_nodes_s:g} s, the job "
                                    f"needs {self.job.min_nodes}", run_id=self.run.run_id)
            self._sleep(self.job.poll_s)

    # -- one round --------------------------------------------------------------------------------

    def run_round(self, r: int, nodes: Sequence[int], weights: Weights) -> Weights:
        rnd = self._start_round(r, nodes, weights)
        self.records.append(rnd.record)
        while not rnd.state.is_closed():
            self._beat(nodes, f"round {r}")
            self._pull(rnd)
            if rnd.state.is_closed():
                break
            if self._stop_requested():
                rnd.state.close()
                break
            self._sleep(min(self.job.poll_s, max(rnd.state.remaining_s(), 0.01)))
        for msg_id, node in rnd.outstanding.items():
            self._late[msg_id] = _Pending(len(self.records) - 1, node)
        new = self._finish_round(rnd, weights)
        self.round_done(rnd.record, new)
        self.run.write_rounds(self.records)
        rec = rnd.record
        _LOG.info("round %d: %d/%d accepted (quorum %d), %d rejected, %d missing, %s in %.1f s", r,
                  len(rec.accepted), rec.sent, rec.quorum, len(rec.rejected), len(rec.missing),
                  "published" if rec.aggregated else "kept the old model", rec.duration_s)
        return new

    def _start_round(self, r: int, nodes: Sequence[int], weights: Weights) -> _Round:
        job = self.job
        instruction = TrainInstruction(
            run_id=self.run.run_id, round=r, base_version=self.base_version, task=job.task, epochs=job.epochs,
            layers=job.layers, task_kwargs=dict(job.task_kwargs), seed=round_seed(job.seed, r),
            input_size=job.input_size)
        content = self.message_content(instruction, weights)
        messages = [self._make_message(content, n, f"{self.run.run_id}/{r}", job.ttl_s) for n in nodes]
        ids = list(self.grid.push_messages(messages))
        sent = {mid: str(n) for mid, n in zip(ids, nodes, strict=True) if mid}
        record = RoundRecord(round=r, base_version=self.base_version, started_at=self._wall(),
                             connected=[str(n) for n in nodes], sent=len(sent),
                             bytes_down=len(sent) * record_bytes(weights_record(weights)))
        if not sent:
            raise EdgeJobFailed(f"round {r}: the SuperLink took none of {len(nodes)} messages",
                                run_id=self.run.run_id)
        plan = RoundPlan(round_id=r, base_version=self.base_version, assigned=frozenset(sent.values()),
                         quorum_frac=job.quorum_frac, deadline_s=job.deadline_s)
        state = RoundState(plan, clock=self._clock)
        for node in sorted(set(map(str, nodes)) - set(sent.values())):
            state.record_rejected(node, "the SuperLink did not accept the message for this node")
        return _Round(record, state, instruction, [tuple(np.shape(w)) for w in weights], sent)

    def message_content(self, instruction: TrainInstruction, weights: Weights) -> Any:
        """The ``RecordDict`` of one round's train messages (a subclass may add records)."""
        return instruction_content(instruction, weights)

    def round_done(self, record: RoundRecord, weights: Weights) -> None:
        """Called after each round, before the records are written; ``weights``: the model after it."""

    def _pull(self, rnd: _Round) -> None:
        ids = list(rnd.outstanding) + list(self._late)
        if not ids:
            return
        for reply in self.grid.pull_messages(ids):
            mid = reply.metadata.reply_to_message_id
            if mid in rnd.outstanding:
                self._take(rnd, rnd.outstanding.pop(mid), reply)
            elif mid in self._late:
                pending = self._late.pop(mid)
                if not reply.has_error():  # an expired message comes back as an error: still missing
                    self._record_late(pending)

    def _take(self, rnd: _Round, node: str, reply: Any) -> None:
        """Decode and check one reply, then hand it to the round's state."""
        if reply.has_error():
            rnd.state.record_rejected(node, f"node error {reply.error.code}: {reply.error.reason}")
            return
        try:
            frame, metrics, meta = reply_parts(reply.content)
            update = self._decode(rnd, node, frame)
        except UpdateRejected as exc:
            rnd.state.record_rejected(node, exc.reason)
            return
        except ValueError as exc:
            rnd.state.record_rejected(node, f"malformed reply: {exc}")
            return
        status = rnd.state.record_reply(update)
        rnd.record.bytes_up += len(frame)
        rnd.record.clients[node] = {**metrics, "node-name": str(meta.get("node-name", "")), "status": str(status)}

    def _decode(self, rnd: _Round, node: str, frame: bytes) -> Any:
        msg = decode_update(frame, max_bytes=self.job.aggregation.max_update_bytes, expected_shapes=rnd.shapes)
        if msg.run_id != rnd.instruction.run_id or msg.round != rnd.instruction.round:
            raise UpdateMalformed(f"update is for run {msg.run_id} round {msg.round}, not this round", client_id=node)
        if msg.update.client_id != node:
            raise UpdateMalformed(f"update claims client {msg.update.client_id!r} but came from node {node}",
                                  client_id=node)
        return msg.update

    def _finish_round(self, rnd: _Round, weights: Weights) -> Weights:
        state, rec = rnd.state, rnd.record
        state.close()
        result = None
        if state.updates():
            try:
                result = aggregate(weights, state.updates(), self.job.aggregation,
                                   base_version=rnd.instruction.base_version)
                state.record_rejected_many(result.rejected)
            except NotEnoughUpdates as exc:
                state.record_rejected_many(exc.rejected)
        out = state.outcome()
        rec.duration_s = (out.closed_at or self._clock()) - state.started_at
        rec.quorum, rec.quorum_met = out.quorum, out.quorum_met
        rec.close_reason = str(out.close_reason or "")
        rec.accepted, rec.rejected = list(out.accepted), dict(out.rejected)
        rec.late, rec.missing = list(out.late), list(out.missing)
        self._summarise_clients(rec)
        if not (out.quorum_met and result is not None):
            return weights
        rec.aggregated, rec.num_examples, rec.clipped = True, result.num_examples, list(result.clipped)
        if self._evaluator is not None:
            rec.eval = self._evaluator(result.weights)
        return result.weights

    @staticmethod
    def _summarise_clients(rec: RoundRecord) -> None:
        used = [rec.clients[n] for n in rec.accepted if n in rec.clients]
        total = sum(float(c.get("num-examples", 0)) for c in used)
        if total <= 0:
            return
        for key, attr in (("train-loss", "train_loss"), ("train-accuracy", "train_accuracy")):
            if all(key in c for c in used):
                setattr(rec, attr, sum(float(c[key]) * float(c["num-examples"]) for c in used) / total)

    # -- late replies -----------------------------------------------------------------------------

    def _record_late(self, pending: _Pending) -> None:
        rec = self.records[pending.round_index]
        if pending.node in rec.missing:
            rec.missing.remove(pending.node)
        if pending.node not in rec.late:
            rec.late.append(pending.node)
        _LOG.info("round %d: node %s replied after the round closed (late, not used)", rec.round, pending.node)
        self.run.write_rounds(self.records)

    def _collect_late(self) -> None:
        """One last pull for replies of closed rounds (recorded as late)."""
        if self._late:
            for reply in self.grid.pull_messages(list(self._late)):
                pending = self._late.pop(reply.metadata.reply_to_message_id, None)
                if pending is not None and not reply.has_error():
                    self._record_late(pending)


__all__ = ["EdgeLoop", "Evaluator", "MessageFactory", "train_message"]
