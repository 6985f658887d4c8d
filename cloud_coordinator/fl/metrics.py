"""Per-round metrics of a global FL run, for ML engineers (pure: from ``rounds.json`` records).

One row per global round: versions in and out, duration, the holdout accuracy and loss of the
model after the round (when the job names a holdout), the example-weighted train loss, and
participants and payload bytes **per tier**: ``wan`` is coordinator ↔ gateways (the global model
down, the gateways' update frames up), ``edge`` is gateways ↔ cameras summed over the accepted
gateways' local rounds (what each gateway reported in its ``edge-*`` metrics). Written as
``metrics.json`` and ``metrics.csv`` in the run directory after every round.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    "round", "version_in", "version_out", "aggregated", "quorum_met", "duration_s", "accuracy", "loss",
    "train_loss", "gateways_connected", "gateways_sent", "gateways_accepted", "gateways_rejected",
    "gateways_missing", "gateways_late", "cameras_connected", "cameras_participating", "num_examples",
    "bytes_wan_down", "bytes_wan_up", "bytes_edge_down", "bytes_edge_up", "edge_s_max",
)


def _sum(clients: Sequence[Mapping[str, Any]], key: str) -> int:
    return int(sum(float(c.get(key, 0.0)) for c in clients))


def round_metrics(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics row of one ``rounds.json`` record."""
    accepted = [rec.get("clients", {}).get(n, {}) for n in rec.get("accepted", [])]
    evaluated = rec.get("eval") or {}
    version_in = str(rec.get("base_version", ""))
    return {
        "round": rec.get("round"), "version_in": version_in,
        "version_out": str(int(version_in) + 1) if rec.get("aggregated") and version_in.isdigit() else version_in,
        "aggregated": bool(rec.get("aggregated")), "quorum_met": bool(rec.get("quorum_met")),
        "duration_s": rec.get("duration_s"), "accuracy": evaluated.get("accuracy"), "loss": evaluated.get("loss"),
        "train_loss": rec.get("train_loss"), "gateways_connected": len(rec.get("connected", [])),
        "gateways_sent": rec.get("sent", 0), "gateways_accepted": len(rec.get("accepted", [])),
        "gateways_rejected": len(rec.get("rejected", {})), "gateways_missing": len(rec.get("missing", [])),
        "gateways_late": len(rec.get("late", [])), "cameras_connected": _sum(accepted, "edge-connected"),
        "cameras_participating": _sum(accepted, "edge-participants"), "num_examples": rec.get("num_examples", 0),
        "bytes_wan_down": rec.get("bytes_down", 0), "bytes_wan_up": rec.get("bytes_up", 0),
        "bytes_edge_down": _sum(accepted, "edge-bytes-down"), "bytes_edge_up": _sum(accepted, "edge-bytes-up"),
        "edge_s_max": max((float(c.get("edge-s", 0.0)) for c in accepted), default=0.0),
        "gateways": {n: str(c.get("node-name", "")) for n, c in rec.get("clients", {}).items()},
        "rejected": dict(rec.get("rejected", {})),
    }


def run_metrics(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [round_metrics(r) for r in records]


def metrics_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The scalar :data:`COLUMNS` of each row (empty cells for missing values)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
    return buf.getvalue()


__all__ = ["COLUMNS", "metrics_csv", "round_metrics", "run_metrics"]
