"""``aiotwin-gateway fl register-node|node-key|status`` and the FL gauges, on work dirs written by hand (no Flower).

The state files are the ones the daemon, the edge ServerApp and the bridge write
(:mod:`aiotwin.flower.job` layout); ``python -m gateway.fl`` shares the same steps.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from aiotwin.exitcodes import ExitCode
from aiotwin.flower import EdgeJob, JobQueue, RoundRecord, RunDir, save_weights
from aiotwin.flower.auth import AuthorizedNodes
from aiotwin.flower.job import write_json
from aiotwin.flower.pki import write_node_key
from gateway.cli import app
from gateway.fl import FEDERATION_FILE, FlCollector
from gateway.fl.__main__ import main as gateway_fl_main
from tests.fl.conftest import TINY

runner = CliRunner()


def _run(queue_dir, run_id, state, **extra):
    run = RunDir(queue_dir / "runs" / run_id)
    run.write_job(EdgeJob(task=TINY, base_version="3", rounds=2), **extra)
    save_weights(run.path / RunDir.INITIAL, [np.zeros(2)])
    run.write_status(state, **({"rounds": 2, "aggregated_rounds": 2, "final_eval": {"accuracy": 0.9}}
                               if state == "done" else {"error": "1 SuperNode(s) connected"} if state == "failed"
                               else {}))
    return run


@pytest.fixture
def fl_dir(tmp_path):
    """``<data-dir>/fl`` of a gateway that ran two edge jobs (one failed) for two global rounds."""
    fl = tmp_path / "data" / "fl"
    edge, bridge = fl / "edge", fl / "bridge"
    JobQueue(edge).ensure()
    JobQueue(edge).heartbeat(nodes=[11, 12], state="idle")
    JobQueue(bridge).ensure()
    JobQueue(bridge).heartbeat(nodes=[11, 12], state="serving")
    _run(edge, "20260101T000000Z-aaaaaa", "failed")
    done = _run(edge, "20260101T000100Z-bbbbbb", "done")
    done.write_rounds([RoundRecord(round=1, base_version="3", started_at=time.time(), connected=["11", "12"],
                                   clients={"11": {"node-name": "cam-0"}, "12": {"node-name": "cam-1"}})])
    _run(bridge, "20260101T000000Z-cccccc", "failed", **{"cloud-run": "R1", "cloud-round": 1})
    _run(bridge, "20260101T000100Z-dddddd", "done", **{"cloud-run": "R1", "cloud-round": 2})
    key = write_node_key(tmp_path / "cam0-keys")
    AuthorizedNodes(edge).add(key.public, "cam-0")
    write_json(fl / FEDERATION_FILE, {"state": "running", "time": time.time(), "pid": os.getpid(), "gateway-id": "gw-0",
                                      "edge-superlink": "0.0.0.0:9092", "coordinator": "10.0.0.1:9192"})
    return fl


def test_status_reports_the_edge_aggregator_from_its_files(fl_dir):
    out = runner.invoke(app, ["fl", "status", "--data-dir", str(fl_dir.parent), "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["present"] and report["federation"]["edge-superlink"] == "0.0.0.0:9092"
    edge = report["edge"]
    assert edge["heartbeat"]["state"] == "idle" and edge["heartbeat"]["nodes"] == ["11", "12"]
    assert edge["nodes"] == [{"node-id": "11", "name": "cam-0"}, {"node-id": "12", "name": "cam-1"}]
    assert edge["authorized-nodes"] == ["cam-0"]
    assert edge["runs-total"] == 2 and edge["runs-by-state"] == {"done": 1, "failed": 1}
    newest, oldest = edge["runs"]
    assert (newest["state"], newest["aggregated"], newest["accuracy"], newest["base-version"]) == ("done", 2, 0.9, "3")
    assert oldest["state"] == "failed" and "SuperNode" in oldest["error"]
    bridge = report["bridge"]
    assert bridge["runs-by-state"] == {"done": 1, "failed": 1} and bridge["runs"][0]["cloud-round"] == 2
    assert report["cloud-key"] is None

    text = runner.invoke(app, ["fl", "status", "--data-dir", str(fl_dir.parent), "--runs", "1"])
    assert text.exit_code == 0, text.output
    for fragment in (f"gateway gw-0: running, 0 s ago (pid {os.getpid()})", "edge SuperLink 0.0.0.0:9092",
                     "cam-0, cam-1", "20260101T000100Z-bbbbbb"):
        assert fragment in text.output, text.output
    assert "20260101T000000Z-aaaaaa" not in text.output


def test_status_of_a_stopped_gateway_a_killed_one_and_of_no_gateway(fl_dir, tmp_path):
    JobQueue(fl_dir / "edge").heartbeat(nodes=[], state="stopped")
    report = json.loads(runner.invoke(app, ["fl", "status", "--data-dir", str(fl_dir.parent), "--format",
                                            "json"]).output)
    assert report["edge"]["heartbeat"]["state"] == "gone" and report["edge"]["nodes"] == []
    assert report["federation"]["state"] == "running"  # this test's own pid
    write_json(fl_dir / FEDERATION_FILE, {"state": "running", "time": time.time(), "pid": 2**31 - 1})
    report = json.loads(runner.invoke(app, ["fl", "status", "--data-dir", str(fl_dir.parent), "--format",
                                            "json"]).output)
    assert report["federation"]["state"] == "gone"  # no such process: killed without a clean shutdown
    out = runner.invoke(app, ["fl", "status", "--data-dir", str(tmp_path / "nothing")])
    assert out.exit_code == 0 and "no FL state under" in out.output


def test_fl_gauges_read_the_same_files(fl_dir):
    registry = CollectorRegistry()
    registry.register(FlCollector(fl_dir))
    text = generate_latest(registry).decode()
    for series in ("aiotwin_gateway_fl_edge_serverapp_up 1.0", "aiotwin_gateway_fl_edge_nodes 2.0",
                   'aiotwin_gateway_fl_edge_runs{state="done"} 1.0', 'aiotwin_gateway_fl_edge_runs{state="failed"} 1.0',
                   'aiotwin_gateway_fl_last_edge_run_state{state="done"} 1.0',
                   'aiotwin_gateway_fl_last_edge_run_state{state="failed"} 0.0',
                   'aiotwin_gateway_fl_global_rounds{state="done"} 1.0'):
        assert series in text, text
    _run(fl_dir / "edge", "20260101T000200Z-eeeeee", "running")
    text = generate_latest(registry).decode()
    assert 'aiotwin_gateway_fl_last_edge_run_state{state="running"} 1.0' in text
    assert 'aiotwin_gateway_fl_edge_runs{state="done"} 1.0' in text  # from the cache of finished runs


def test_node_key_is_made_once_and_printed(tmp_path):
    first = runner.invoke(app, ["fl", "node-key", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    path = tmp_path / "fl" / "cloud-supernode" / "keys" / "flwr-node.pub"
    assert first.output.strip() == str(path.resolve())
    before = path.read_text()
    again = runner.invoke(app, ["fl", "node-key", "--data-dir", str(tmp_path)])
    assert again.output == first.output and path.read_text() == before


def test_register_node_stores_the_key_for_the_edge_superlink(tmp_path):
    key = write_node_key(tmp_path / "cam-keys")
    out = runner.invoke(app, ["fl", "register-node", "--data-dir", str(tmp_path / "d"), "--public-key",
                              str(key.public), "--name", "cam-0"])
    assert out.exit_code == 0, out.output
    reg = json.loads(out.output)
    stored = tmp_path / "d" / "fl" / "edge" / "authorized-nodes" / "cam-0.pub"
    assert reg["name"] == "cam-0" and reg["stored"] == str(stored.resolve()) and reg["node-id"] is None
    assert "registered when it starts" in reg["note"]
    assert stored.is_file()


@pytest.mark.parametrize(("make", "name"), [
    (lambda p: p.write_text("not a key\n"), "cam-0"),
    (lambda p: None, "cam-0"),  # missing file
    (None, "bad name!"),
])
def test_register_node_rejects_unusable_keys_and_names_with_usage(tmp_path, make, name):
    if make is None:
        pub = write_node_key(tmp_path / "k").public
    else:
        pub = tmp_path / "junk.pub"
        make(pub)
    out = runner.invoke(app, ["fl", "register-node", "--data-dir", str(tmp_path / "d"), "--public-key", str(pub),
                              "--name", name, "--offline"])
    assert out.exit_code == ExitCode.USAGE, out.output
    assert "error:" in out.output


def test_python_m_gateway_fl_shares_the_steps(tmp_path, capsys):
    key = write_node_key(tmp_path / "cam-keys")
    (tmp_path / "work" / "edge").mkdir(parents=True)  # a `serve` work dir keeps its SuperLink in edge/
    assert gateway_fl_main(["register-node", "--work-dir", str(tmp_path / "work"), "--public-key", str(key.public),
                            "--name", "cam-3", "--offline"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "cam-3"
    assert (tmp_path / "work" / "edge" / "authorized-nodes" / "cam-3.pub").is_file()
    assert gateway_fl_main(["node-key", "--work-dir", str(tmp_path / "work")]) == 0
    assert capsys.readouterr().out.strip().endswith("cloud-supernode/keys/flwr-node.pub")
    assert gateway_fl_main(["register-node", "--work-dir", str(tmp_path / "work"), "--public-key",
                            str(tmp_path / "missing.pub"), "--offline"]) == 1


def test_python_m_gateway_fl_serve_checks_its_options_like_the_fl_table(tmp_path, caplog):
    code = gateway_fl_main(["serve", "--work-dir", str(tmp_path / "w"), "--coordinator", "127.0.0.1:9",
                            "--gateway-id", "gw-0"])  # neither TLS files nor --insecure
    assert code == 1
    assert "fl/ssl-ca-certfile" in caplog.text and "fl/coordinator-ca" in caplog.text
    assert not (tmp_path / "w").exists()
