"""Pure parts of the Flower plumbing: the train instruction, edge jobs, run directories, node configs."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from aiotwin.fl import AggregationConfig, FlConfigError
from aiotwin.flower import ClientTrainError, EdgeJob, JobQueue, TrainInstruction, load_weights, node_config_toml
from aiotwin.flower.local import local_train
from aiotwin.flower.protocol import task_allowed
from aiotwin.flower.samples import load_samples
from aiotwin.models import load_task
from tests._package import modules_loaded_after
from tests.fl.conftest import TINY, toy_npz


def test_instruction_round_trips_through_config_values():
    ins = TrainInstruction(run_id="r1", round=2, base_version="7", task=TINY, epochs=3, layers="head",
                           task_kwargs={"classes": 6}, seed=7002, input_size=(16, 16))
    cfg = ins.to_config()
    assert all(isinstance(v, str | int | list) for v in cfg.values())
    assert TrainInstruction.from_config(cfg) == ins


@pytest.mark.parametrize(("change", "message"), [
    ({"protocol": 99}, "protocol 99 is not supported"),
    ({"base-version": ""}, "base-version must be a non-empty string"),
    ({"epochs": -1}, "epochs must be >= 0"),
    ({"layers": "body"}, "layers must be one of all, head"),
    ({"task-kwargs": "[1]"}, "task-kwargs must be a JSON object"),
    ({"input-size": [0, 16]}, "input-size must be"),
    ({"round": "1"}, "round must be an integer"),
])
def test_malformed_instructions_name_the_problem(change, message):
    cfg = {**TrainInstruction(run_id="r", round=1, base_version="1", task=TINY).to_config(), **change}
    with pytest.raises(ClientTrainError, match=message):
        TrainInstruction.from_config(cfg)


def test_task_allow_list():
    assert task_allowed(TINY, {}) and task_allowed(TINY, {"task": TINY})
    assert not task_allowed(TINY, {"task": "aiotwin.models.vehicle:VehicleClassifier"})


def test_edge_job_reports_every_problem():
    with pytest.raises(FlConfigError) as err:
        EdgeJob(task="nope", base_version="", rounds=0, quorum_frac=1.5, deadline_s=0, layers="x")
    text = str(err.value)
    for part in ("task must be", "base-version", "rounds must be", "quorum-frac", "deadline-s", "layers"):
        assert part in text


def test_run_directory_round_trips_the_job_and_queue_is_fifo(tmp_path):
    queue = JobQueue(tmp_path)
    queue.ensure()
    job = EdgeJob(task=TINY, base_version="3", rounds=2, task_kwargs={"classes": 6}, input_size=(16, 16),
                  aggregation=AggregationConfig(rule="median"), holdout_npz=tmp_path / "h.npz")
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)]
    runs = [queue.new_run(job, weights, note="x") for _ in range(3)]
    for run in runs:
        queue.submit(run)
    assert runs[0].read_job() == job
    assert all(np.array_equal(a, b) for a, b in zip(load_weights(runs[0].path / "initial.npz"), weights, strict=True))
    assert [queue.claim().run_id for _ in range(3)] == [r.run_id for r in runs]
    assert queue.claim() is None
    assert runs[1].read_status()["state"] == "queued"
    queue.request_stop()
    assert queue.stop_requested()
    queue.clear_stop()
    assert not queue.stop_requested()


def test_node_config_file_is_toml_with_the_values():
    text = node_config_toml({"node-name": "cam 1", "data-dir": "/var/lib/a b", "model-version": 3, "x": True})
    assert tomllib.loads(text) == {"node-name": "cam 1", "data-dir": "/var/lib/a b", "model-version": 3, "x": True}
    with pytest.raises(ValueError, match="key"):
        node_config_toml({"bad key": 1})


def test_local_train_refuses_other_tasks_and_nodes_without_samples(tmp_path):
    ins = TrainInstruction(run_id="r", round=1, base_version="3", task=TINY, seed=1)
    weights = load_task(TINY).get_weights()
    with pytest.raises(ClientTrainError, match="trains only"):
        local_train(ins, weights, {"task": "aiotwin.models.vehicle:VehicleClassifier"}, "1")
    with pytest.raises(ClientTrainError, match="names no samples"):
        local_train(ins, weights, {}, "1")
    with pytest.raises(ClientTrainError, match=r"does not fit|shapes"):
        local_train(ins, weights[:1], {"samples-npz": str(toy_npz(tmp_path / "s.npz", 12, 1))}, "1")


def test_samples_from_npz_and_the_newest_n(tmp_path):
    path = toy_npz(tmp_path / "s.npz", 30, seed=3)
    store = load_samples({"samples-npz": str(path), "max-samples": 10}, ["a"] * 6, None)
    assert len(store) == 10
    with pytest.raises(ClientTrainError, match="class indices"):
        load_samples({"samples-npz": str(path)}, ["a", "b"], None)


def test_importing_the_plumbing_stays_light():
    assert modules_loaded_after("import aiotwin.flower, gateway.fl, device_runtime.fl", ("flwr", "torch", "cv2")) == []
