"""Exporting a set of weights as a model bundle through its task, in this process or in a worker process.

:func:`export_bundle` builds the task (``load_task(task, **task_kwargs, seed=seed)``), loads the
weights with their version and calls the task's own export (:meth:`aiotwin.models.task.Task.export`;
the vehicle classifier's is :func:`aiotwin.models.bundle_writer.write_bundle`) with the holdout as
calibration set and accuracy set. It imports the task's backend (torch for the vehicle classifier).

The coordinator daemon never imports torch: :func:`async_export` runs the same function in a
worker process (``python -m cloud_coordinator.models SPEC RESULT``) and reads its
:class:`ExportOutcome`; a crash, a timeout or a cancelled export kills the worker and leaves only
what it wrote into its own output directory. A task without a bundle export (its ``export`` raises
``NotImplementedError``, like the numpy test task) is an outcome (``unsupported``), not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aiotwin.bundle import VARIANT_IDS
from aiotwin.config import dump_dataclass, load_dataclass

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle

_LOG = logging.getLogger("cloud_coordinator.models.export")

EXPORT_TIMEOUT_S = 1800.0  # all variants of the edge classifier take ~15 s on a 2-core host; a big model minutes
STATES = ("exported", "unsupported", "failed")


@dataclass(frozen=True)
class ExportSpec:
    """What to export: the task and its weights (``.npz``, ``a0000``… in order), as which version, where to."""

    task: str
    weights: Path
    version: int
    holdout_npz: Path
    out: Path
    variants: tuple[str, ...] = VARIANT_IDS
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    trained_layers: str | None = None  # what the run trained ("all" or "head"), for the manifest


@dataclass(frozen=True)
class ExportOutcome:
    """How an export ended: ``exported`` (a bundle in ``spec.out``), ``unsupported`` or ``failed``."""

    state: str
    error: str | None = None
    name: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dump_dataclass(self)


def export_bundle(spec: ExportSpec) -> Bundle:
    """Export ``spec`` in this process (imports the task's backend); returns the written bundle.

    Raises whatever the task raises: ``NotImplementedError`` when it has no bundle export,
    :class:`aiotwin.BackendMissing` without the export extra, :class:`aiotwin.BundleError`, …
    """
    from aiotwin.flower.job import load_weights
    from aiotwin.flower.samples import npz_samples
    from aiotwin.models.task import ArrayStore, load_task

    task = load_task(spec.task, **{**spec.task_kwargs, "seed": spec.seed})
    task.set_weights(load_weights(spec.weights), version=spec.version)
    if spec.trained_layers is not None and hasattr(task, "trained_layers"):
        cast("Any", task).trained_layers = spec.trained_layers  # not trained here: say what the run trained
    holdout = ArrayStore(*npz_samples(spec.holdout_npz))
    return task.export(spec.out, list(spec.variants), holdout, holdout=holdout)


def _outcome(spec: ExportSpec) -> ExportOutcome:
    try:
        bundle = export_bundle(spec)
    except NotImplementedError as exc:
        return ExportOutcome("unsupported", f"the task {spec.task} has no bundle export ({exc})")
    except Exception as exc:  # the worker reports every failure; the daemon records it
        _LOG.exception("export of %s failed", spec.task)
        return ExportOutcome("failed", f"{type(exc).__name__}: {exc}")
    return ExportOutcome("exported", name=bundle.manifest.name, version=bundle.manifest.version)


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m cloud_coordinator.models SPEC.json RESULT.json``: one export; the outcome goes to RESULT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m cloud_coordinator.models SPEC.json RESULT.json\n")
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = load_dataclass(ExportSpec, json.loads(Path(args[0]).read_text(encoding="utf-8")), file=args[0])
    outcome = _outcome(spec)
    tmp = Path(args[1] + ".tmp")
    tmp.write_text(json.dumps(outcome.to_dict()) + "\n", encoding="utf-8")
    tmp.replace(args[1])
    return 0


async def async_export(spec: ExportSpec, work: Path, *, log_path: Path, env: Mapping[str, str] | None = None,
                       timeout_s: float = EXPORT_TIMEOUT_S) -> ExportOutcome:
    """Run :func:`export_bundle` in a worker process; its spec and result files go to ``work``.

    The worker's log is appended to ``log_path``. Never raises for a failed export (the outcome
    says ``failed``); cancelling kills the worker.
    """
    spec_path, result_path = work / "export-spec.json", work / "export-result.json"
    await asyncio.to_thread(spec_path.write_text, json.dumps(dump_dataclass(spec)), "utf-8")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud_coordinator.models", str(spec_path), str(result_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=None if env is None else dict(env))
        try:
            code = await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            return ExportOutcome("failed", f"the export took longer than {timeout_s:g} s (see {log_path})")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    return await asyncio.to_thread(_read_outcome, result_path, code, log_path)


def _read_outcome(path: Path, code: int, log_path: Path) -> ExportOutcome:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ExportOutcome(str(data["state"]), data.get("error"), data.get("name"), data.get("version"))
    except (OSError, ValueError, KeyError, TypeError):
        return ExportOutcome("failed", f"the export worker exited with {code} without a result; see {log_path}")


__all__ = ["EXPORT_TIMEOUT_S", "STATES", "ExportOutcome", "ExportSpec", "async_export", "export_bundle",
           "worker_main"]
