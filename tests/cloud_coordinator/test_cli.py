"""``aiotwin-coordinator`` without Flower processes: exit codes, fl status/export on a run dir, light imports."""

from __future__ import annotations

import json
import time

import numpy as np
from typer.testing import CliRunner

from aiotwin.exitcodes import ExitCode
from aiotwin.flower import JobQueue, RoundRecord
from cloud_coordinator.cli import app
from cloud_coordinator.fl import CloudJob, CloudRunDir, run_metrics
from tests._package import modules_loaded_after
from tests.fl.conftest import TINY

runner = CliRunner()


def _run_dir(work):
    queue = JobQueue(work)
    queue.ensure()
    weights = [np.zeros((2, 3), np.float32), np.ones(3, np.float32)]
    run = CloudRunDir(queue.new_run(CloudJob(task=TINY, base_version="3", rounds=2, deadline_s=60.0,
                                             edge_deadline_s=30.0), weights).path)
    rec = RoundRecord(round=1, base_version="3", started_at=time.time(), duration_s=12.5, connected=["7", "8"],
                      sent=2, accepted=["7", "8"], aggregated=True, quorum_met=True, num_examples=600,
                      bytes_down=100, bytes_up=90, eval={"accuracy": 0.8, "loss": 0.4},
                      clients={n: {"node-name": f"gw-{n}", "edge-participants": 2.0, "edge-bytes-up": 50.0}
                               for n in ("7", "8")})
    run.write_rounds([rec])
    rows = run_metrics([rec.to_dict()])
    (run.path / CloudRunDir.METRICS).write_text(json.dumps(rows))
    run.write_checkpoint(1, "4", [w + 1 for w in weights])
    run.write_status("running")
    return run


def test_fl_start_without_a_coordinator_exits_150(tmp_path):
    out = runner.invoke(app, ["fl", "start", "-w", str(tmp_path), "--task", TINY])
    assert out.exit_code == ExitCode.COORDINATOR_NOT_RUNNING == 150, out.output


def test_fl_start_with_unordered_timeouts_is_a_usage_error(tmp_path):
    JobQueue(tmp_path).heartbeat(nodes=[], state="idle")
    out = runner.invoke(app, ["fl", "start", "-w", str(tmp_path), "--task", TINY, "--deadline-s", "10",
                              "--edge-deadline-s", "20"])
    assert out.exit_code == ExitCode.USAGE, out.output
    assert "must not exceed the bridge timeout" in out.output


def test_fl_start_queues_the_publish_options(tmp_path):
    queue = JobQueue(tmp_path)
    queue.ensure()
    queue.heartbeat(nodes=[], state="idle")  # a coordinator seems to serve the work dir
    out = runner.invoke(app, ["fl", "start", "-w", str(tmp_path), "--task", TINY, "--task-kwargs", "{}",
                              "--publish", "every-round", "--publish-variant", "onnx-fp32",
                              "--publish-variant", "tflite-int8", "--deadline-s", "60", "--edge-deadline-s", "30"])
    assert out.exit_code == 0, out.output
    job = CloudRunDir(tmp_path / "runs" / out.output.strip()).read_job()
    assert job.publish == "every-round" and job.publish_variants == ("onnx-fp32", "tflite-int8")
    bad = runner.invoke(app, ["fl", "start", "-w", str(tmp_path), "--task", TINY, "--publish", "sometimes"])
    assert bad.exit_code == ExitCode.USAGE


def test_fl_status_and_export_read_the_run_dir(tmp_path):
    run = _run_dir(tmp_path)
    run.write_publication("round-0001", {"state": "published", "name": "tiny", "version": 4, "path": "/x"})
    out = runner.invoke(app, ["fl", "status", "-w", str(tmp_path), "--format", "json"])
    assert out.exit_code == 0, out.output
    [summary] = json.loads(out.output)
    assert summary["run-id"] == run.run_id and summary["rounds-done"] == 1 and summary["accuracy"] == 0.8
    assert summary["publish"] == "final" and summary["published"]["round-0001"]["version"] == 4
    table = runner.invoke(app, ["fl", "status", "-w", str(tmp_path)])
    assert "tiny v4" in table.output
    detail = runner.invoke(app, ["fl", "status", run.run_id, "-w", str(tmp_path)])
    assert "publish round-0001: published /x" in detail.output

    out = runner.invoke(app, ["fl", "status", run.run_id, "-w", str(tmp_path), "--format", "json"])
    data = json.loads(out.output)
    assert data["metrics"][0]["cameras_participating"] == 4 and data["metrics"][0]["version_out"] == "4"
    assert runner.invoke(app, ["fl", "status", "nope", "-w", str(tmp_path)]).exit_code == 151

    out = runner.invoke(app, ["fl", "export", run.run_id, "--out", str(tmp_path / "x"), "-w", str(tmp_path)])
    assert out.exit_code == 0, out.output
    with np.load(tmp_path / "x" / "global.npz") as data:  # no result yet: the checkpoint's weights
        assert np.allclose(data["a0001"], 2.0)
    assert (tmp_path / "x" / "metrics.json").is_file() and (tmp_path / "x" / "run.json").is_file()

    out = runner.invoke(app, ["fl", "export", run.run_id, "--out", str(tmp_path / "y"), "-w", str(tmp_path),
                              "--bundle"])
    assert out.exit_code == ExitCode.FAILURE and "no holdout" in out.output


def test_importing_the_coordinator_imports_neither_flwr_nor_torch():
    code = "import cloud_coordinator, cloud_coordinator.fl, cloud_coordinator.cli"
    assert modules_loaded_after(code, ("flwr", "torch")) == []
