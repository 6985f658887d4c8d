"""``aiotwin-coordinator fl start|status|export``: global FL runs of a running coordinator.

``fl register-gateway`` authorizes a gateway's Flower key at the coordinator's SuperLink.
``fl start`` queues a run (or ``--resume RUN``) for the coordinator daemon serving ``--work-dir``
and prints its run id; with ``--wait`` it waits for the end and prints the summary. ``fl status``
lists the runs, or one run's per-round metrics; ``fl export`` writes a run's final global weights
(and, with ``--bundle``, a model bundle through the task's export). Data goes to stdout, logs to
stderr; nothing here imports flwr or torch (a bundle export imports the task's torch). ``--publish``
decides which global models the coordinator daemon publishes into its model store
(``aiotwin-coordinator models``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import click
import typer
from rich.console import Console
from rich.table import Table

from aiotwin.bundle import VARIANT_IDS
from aiotwin.exitcodes import ExitCode
from aiotwin.fl import RULES, AggregationConfig, Rule
from cloud_coordinator.cli._app import DEFAULT_WORK_DIR, fl_app, guarded
from cloud_coordinator.fl.job import DEFAULT_PUBLISH, PUBLISH_MODES

_Opt = typer.Option
_WORK = _Opt("--work-dir", "-w", help="The coordinator's work dir.")
DEFAULT_TASK = "aiotwin.models.vehicle:VehicleClassifier"
TABLE_COLUMNS = ("round", "version_out", "aggregated", "duration_s", "accuracy", "loss", "gateways_accepted",
                 "cameras_participating", "bytes_wan_up", "bytes_edge_up")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@fl_app.command("start")
def fl_start(  # noqa: PLR0917 - typer maps parameters to options
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    rounds: Annotated[int, _Opt("--rounds", min=1, help="Global rounds.")] = 1,
    local_rounds: Annotated[int, _Opt("--local-rounds", min=1, help="Edge rounds per gateway per global round.")]
    = 1,
    base_version: Annotated[str, _Opt("--base-version", help="Integer model version of the starting weights.")]
    = "1",
    task: Annotated[str, _Opt("--task", help="Task module 'package.module:Class'.")] = DEFAULT_TASK,
    task_kwargs: Annotated[str, _Opt("--task-kwargs", help="JSON keyword arguments of the task.")]
    = '{"arch": "edge"}',
    weights: Annotated[Path | None, _Opt("--weights", help=".npz of the starting weights (default: the task's "
                                         "initial ones).")] = None,
    epochs: Annotated[int, _Opt("--epochs", min=0, help="Local epochs on each camera per edge round.")] = 1,
    layers: Annotated[str, _Opt("--layers", click_type=click.Choice(["all", "head"]), help="What cameras train.")]
    = "all",
    min_gateways: Annotated[int, _Opt("--min-gateways", min=1, help="Gateways a round waits for.")] = 1,
    quorum: Annotated[float, _Opt("--quorum", help="Share of gateways that must reply per global round.")] = 0.6,
    deadline_s: Annotated[float, _Opt("--deadline-s", help="Global round deadline.")] = 600.0,
    edge_deadline_s: Annotated[float, _Opt("--edge-deadline-s", help="Edge round deadline.")] = 120.0,
    edge_quorum: Annotated[float, _Opt("--edge-quorum", help="Share of cameras per edge round.")] = 0.6,
    bridge_timeout_s: Annotated[float | None, _Opt("--bridge-timeout-s", help="A gateway's time for its local "
                                                   "rounds (default: deadline − 10 %).")] = None,
    wait_gateways_s: Annotated[float, _Opt("--wait-gateways-s", help="How long a round waits for --min-gateways.")]
    = 120.0,
    rule: Annotated[str, _Opt("--rule", click_type=click.Choice(list(RULES)), help="Global aggregation rule.")]
    = "fedavg",
    edge_rule: Annotated[str, _Opt("--edge-rule", click_type=click.Choice(list(RULES)), help="Gateways' rule.")]
    = "fedavg",
    seed: Annotated[int, _Opt("--seed", help="Seed of the run (round seeds are recorded).")] = 0,
    holdout_npz: Annotated[Path | None, _Opt("--holdout-npz", help="x/y arrays every global model is evaluated "
                                             "on (and published bundles are calibrated and measured on).")] = None,
    publish: Annotated[str, _Opt("--publish", click_type=click.Choice(list(PUBLISH_MODES)),
                                 help="Which global models become bundles in the model store (needs "
                                 "--holdout-npz).")] = DEFAULT_PUBLISH,
    publish_variant: Annotated[list[str] | None, _Opt("--publish-variant", click_type=click.Choice(
        list(VARIANT_IDS)), help="Variant of the published bundles (repeat; default: every one the task "
        "can build).")] = None,
    resume: Annotated[str | None, _Opt("--resume", help="Queue this unfinished run again instead.")] = None,
    wait: Annotated[bool, _Opt("--wait/--no-wait", help="Wait for the run to end and print its summary.")] = False,
    timeout_s: Annotated[float, _Opt("--timeout-s", help="With --wait: give up after this long.")] = 86400.0,
) -> None:
    """Queue a global FL run on the running coordinator (prints its run id, or its summary with --wait).

    With --wait the summary comes once the run ended and its models were published (or not: see "published").
    """

    def body() -> int:
        from cloud_coordinator.fl.job import CloudJob
        from cloud_coordinator.fl.runs import require_coordinator, resume_run, run_summary, submit_run, wait_run

        work = work_dir.resolve()
        require_coordinator(work)
        if resume is not None:
            run = resume_run(work, resume)
        else:
            job = CloudJob(task=task, base_version=base_version, rounds=rounds, epochs=epochs, layers=layers,
                           task_kwargs=json.loads(task_kwargs), seed=seed, quorum_frac=quorum, deadline_s=deadline_s,
                           min_nodes=min_gateways, wait_nodes_s=wait_gateways_s,
                           aggregation=AggregationConfig(rule=cast("Rule", rule)), local_rounds=local_rounds,
                           edge_deadline_s=edge_deadline_s, edge_quorum_frac=edge_quorum,
                           edge_aggregation=AggregationConfig(rule=cast("Rule", edge_rule)),
                           bridge_timeout_s=bridge_timeout_s,
                           holdout_npz=holdout_npz.resolve() if holdout_npz else None, publish=publish,
                           publish_variants=tuple(publish_variant or VARIANT_IDS))
            run = submit_run(work, job, _initial_weights(job, weights))
        if not wait:
            typer.echo(run.run_id)
            return 0
        status = wait_run(run, timeout_s)
        _emit(run_summary(run))
        return 0 if status.get("state") == "done" else int(ExitCode.COORDINATOR_RUN_FAILED)

    guarded(body)


def _initial_weights(job: Any, path: Path | None) -> Any:
    from aiotwin.flower.job import load_weights
    from aiotwin.models.task import load_task

    if path is not None:
        return load_weights(path)
    return load_task(job.task, **{**job.task_kwargs, "seed": job.seed}).get_weights()


@fl_app.command("status")
def fl_status(
    run_id: Annotated[str | None, typer.Argument(help="A run id (default: list every run).")] = None,
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    output: Annotated[OutputFormat, _Opt("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """List the FL runs, or show one run's state and per-round metrics."""

    def body() -> int:
        from cloud_coordinator.fl.runs import find_run, list_runs, run_summary

        work = work_dir.resolve()
        if run_id is None:
            runs = list_runs(work)
            _emit(runs) if output is OutputFormat.json else _print_runs(runs)
            return 0
        run = find_run(work, run_id)
        summary, metrics = run_summary(run), run.read_metrics()
        if output is OutputFormat.json:
            _emit({**summary, "metrics": metrics, "run-dir": str(run.path)})
        else:
            _print_run(summary, metrics, run.path)
        return 0

    guarded(body)


def _print_runs(runs: list[dict[str, Any]]) -> None:
    table = Table("run", "state", "rounds", "version", "accuracy", "published", "task")
    for r in runs:
        table.add_row(r["run-id"], r["state"], f"{r['rounds-done']}/{r['rounds']}", str(r["version"]),
                      _fmt(r["accuracy"]), _published(r["published"]), str(r["task"]))
    Console().print(table)


def _published(outcomes: dict[str, dict[str, Any]]) -> str:
    """``vehicle-edge v5``, or the state of the publication (``exporting``, ``skipped``, ``failed``)."""
    if not outcomes:
        return "-"
    last = outcomes[max(outcomes)]
    if last.get("state") == "published":
        return f"{last.get('name')} v{last.get('version')}"
    return str(last.get("state"))


def _print_run(summary: dict[str, Any], metrics: list[dict[str, Any]], path: Path) -> None:
    console = Console()
    console.print(f"run {summary['run-id']}: {summary['state']}, version {summary['version']}, "
                  f"accuracy {_fmt(summary['initial-accuracy'])} → {_fmt(summary['accuracy'])}  ({path})")
    if summary.get("error"):
        console.print(f"error: {summary['error']}")
    for key, outcome in sorted(summary["published"].items()):
        why = outcome.get("reason") or outcome.get("error") or outcome.get("path") or ""
        console.print(f"publish {key}: {outcome.get('state')} {why}")
    table = Table(*TABLE_COLUMNS)
    for row in metrics:
        table.add_row(*(_fmt(row.get(c)) for c in TABLE_COLUMNS))
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


@fl_app.command("export")
def fl_export(
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    out: Annotated[Path, _Opt("--out", "-o", help="Output directory.")],
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    bundle: Annotated[bool, _Opt("--bundle/--no-bundle", help="Also export a model bundle through the task "
                                 "(needs the export extra and a run holdout).")] = False,
    variant: Annotated[list[str] | None, _Opt("--variant", help="Bundle variant (repeat; default onnx-fp32).")]
    = None,
) -> None:
    """Write a run's final global weights (global.npz), its metrics and record to --out."""

    def body() -> int:
        from cloud_coordinator.fl.runs import export_run, find_run

        run = find_run(work_dir.resolve(), run_id)
        report = export_run(run, out, bundle=bundle, variants=tuple(variant or ("onnx-fp32",)))
        _emit(report)
        return int(ExitCode.FAILURE) if bundle and (report["bundle"] or {}).get("error") else 0

    guarded(body)


@fl_app.command("register-gateway")
def fl_register_gateway(
    public_key: Annotated[Path, _Opt("--public-key", help="The gateway's Flower public key (OpenSSH ECDSA, "
                                     "`aiotwin-gateway fl node-key`).")],
    name: Annotated[str | None, _Opt("--name", help="The gateway's id (default: the key file's name).")] = None,
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    offline: Annotated[bool, _Opt("--offline", help="Only store it: registered when the SuperLink starts.")]
    = False,
) -> None:
    """Authorize a gateway's Flower key at the coordinator's SuperLink (now if it runs, and at every start)."""

    def body() -> int:
        from aiotwin.flower.auth import authorize_node

        reg = authorize_node(work_dir.resolve(), public_key, name=name, live=not offline)
        _emit(reg.to_dict())
        return 0

    guarded(body)


__all__ = ["DEFAULT_TASK", "TABLE_COLUMNS", "OutputFormat", "fl_export", "fl_register_gateway", "fl_start",
           "fl_status"]
