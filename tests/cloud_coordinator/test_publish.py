"""The coordinator daemon's publisher: run requests → the model store, without Flower processes.

A run directory with a publication request (what the global ServerApp writes) is handed to a real
:class:`~cloud_coordinator.fl.Publisher`, which exports in a real worker process. The numpy test
task has no bundle export (skipped, the run untouched); the vehicle classifier's ``edge`` weights
become a bundle of every variant this host can build (``export`` marker: torch, onnx, litert).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aiotwin.bundle import load_bundle, sha256_file
from aiotwin.flower import JobQueue
from aiotwin.flower.samples import save_npz_samples
from aiotwin.models.data import toy_store
from cloud_coordinator.cli import app
from cloud_coordinator.fl import CloudJob, CloudRunDir, Publisher, export_run, wait_run
from cloud_coordinator.models import ModelStore, store_dir
from tests.fl.conftest import TINY, TOY_SIZE

ROOT = Path(__file__).resolve().parents[2]
VEHICLE = "aiotwin.models.vehicle:VehicleClassifier"
EXPORT_TIMEOUT_S = 240.0


@pytest.fixture
def env() -> dict[str, str]:
    """The worker's environment: it imports the test task (tests.fl.tiny_task) from the repo root."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def _job(**kw) -> CloudJob:
    return CloudJob(**{"task": TINY, "base_version": "3", "rounds": 2, "seed": 7, "deadline_s": 60.0,
                       "edge_deadline_s": 30.0, **kw})


def finished_run(work: Path, job: CloudJob, weights, *, round_no: int = 2, version: str = "5") -> CloudRunDir:
    """A run directory as the global ServerApp leaves it: done, with its final model handed over."""
    queue = JobQueue(work)
    queue.ensure()
    run = CloudRunDir(queue.new_run(job, weights).path)
    run.request_publish(round_no, version, weights)
    run.write_status("done", version=version, rounds=round_no)
    return run


async def _publish(work: Path, env, runs, timeout_s: float = EXPORT_TIMEOUT_S) -> Publisher:
    publisher = Publisher(work, env=env, poll_s=0.1)
    await publisher.start()
    try:
        give_up = time.monotonic() + timeout_s
        while any(run.unsettled_requests() for run in runs):
            assert time.monotonic() < give_up, [run.read_publications() for run in runs]
            await asyncio.sleep(0.2)
    finally:
        await publisher.shutdown()
    return publisher


def test_a_task_without_export_or_a_run_without_holdout_is_skipped_and_the_run_stays_done(tmp_path, env):
    from aiotwin.models import load_task

    holdout = tmp_path / "holdout.npz"
    save_npz_samples(holdout, toy_store(24, seed=9, size=TOY_SIZE))
    weights = load_task(TINY, seed=7).get_weights()
    tiny = finished_run(tmp_path, _job(holdout_npz=holdout), weights)
    blind = finished_run(tmp_path, _job(), weights, round_no=1, version="4")

    publisher = asyncio.run(_publish(tmp_path, env, [tiny, blind]))

    [(key, outcome)] = tiny.read_publications().items()
    assert key == "round-0002" and outcome["state"] == "skipped" and outcome["round"] == 2
    assert "has no bundle export" in outcome["reason"]
    assert (tiny.path / "publish" / "round-0002.log").is_file()
    no_holdout = blind.read_publications()["round-0001"]
    assert no_holdout["state"] == "skipped" and "no holdout" in no_holdout["reason"]
    assert publisher.handled == 2
    for run in (tiny, blind):
        assert run.read_status()["state"] == "done"
        assert wait_run(run, 5.0)["state"] == "done"  # settled: returns at once
    with ModelStore.open(store_dir(tmp_path), readonly=True) as store:
        assert store.list_models() == []
    assert not any((store_dir(tmp_path) / ".tmp").glob("*"))  # the staging dir is gone


def test_wait_run_waits_for_the_publication():
    class Run:
        def __init__(self):
            self.unsettled = ["round-0002"]

        def read_status(self):
            return {"state": "done"}

        def unsettled_requests(self):
            return self.unsettled

    clock = [0.0]
    run = Run()
    status = wait_run(run, 3.0, sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert status["state"] == "done" and clock[0] >= 3.0  # gave up waiting for it
    run.unsettled = []
    clock[0] = 0.0
    wait_run(run, 3.0, sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert clock[0] == 0.0


@pytest.fixture(scope="module")
def vehicle_run(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("litert_torch")
    from aiotwin.models import load_task

    work = tmp_path_factory.mktemp("coord")
    holdout = work / "holdout.npz"
    save_npz_samples(holdout, toy_store(48, seed=2))  # 64 px crops, the edge model's input
    task = load_task(VEHICLE, arch="edge", seed=7)
    rng = np.random.default_rng(1)
    weights = [w + rng.normal(0, 0.01, w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
               for w in task.get_weights()]
    job = _job(task=VEHICLE, task_kwargs={"arch": "edge"}, layers="head", holdout_npz=holdout)
    return work, finished_run(work, job, weights), weights


@pytest.mark.export
@pytest.mark.slow
def test_a_vehicle_model_is_published_as_a_verified_bundle_of_every_variant(vehicle_run):
    work, run, _ = vehicle_run
    env = {**os.environ}
    t0 = time.monotonic()
    asyncio.run(_publish(work, env, [run]))
    took = time.monotonic() - t0

    outcome = run.read_publications()["round-0002"]
    assert outcome["state"] == "published", outcome
    with ModelStore.open(store_dir(work), readonly=True) as store:
        [record] = store.list_models()
        assert store.for_round(run.run_id, 2) == record
    assert (record.name, record.version, record.run_id, record.global_round) == ("vehicle-edge", 5, run.run_id, 2)
    assert record.base_version == "3" and record.trained_layers == "head" and record.task == VEHICLE
    assert outcome["path"] == str(record.path) == str(store_dir(work) / "vehicle-edge" / "5")

    bundle = load_bundle(record.path)
    m = bundle.manifest
    assert m.version == 5 and m.name == "vehicle-edge" and m.trained_layers == "head"
    built = {"onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"}
    assert set(m.variants) == built == set(record.variants)
    assert "tflite-edgetpu" in m.extra["skipped"]  # no edgetpu_compiler on this host
    for vid in m.variants:
        bundle.verify_variant(vid)
    assert sha256_file(record.path / "manifest.json") == record.manifest_sha256
    assert record.accuracy == m.variants["onnx-fp32"].accuracy is not None

    from aiotwin.engines import open_engine
    from aiotwin.models.metrics import classification_metrics

    x, y = toy_store(48, seed=2).arrays()
    engine = open_engine(bundle, "onnx-fp32")
    try:
        probs = engine.classify(x)
    finally:
        engine.close()
    assert classification_metrics(probs, y, m.labels)["accuracy"] == pytest.approx(record.accuracy, abs=1e-6)

    out = CliRunner().invoke(app, ["models", "show", "vehicle-edge", "5", "-w", str(work), "--verify",
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["verified"]
    print(f"publish (worker process, {len(built)} variants): {took:.1f} s")


@pytest.mark.export
@pytest.mark.slow
def test_fl_export_bundle_writes_a_loadable_bundle_of_the_run_version(vehicle_run, tmp_path):
    _, run, weights = vehicle_run
    report = export_run(run, tmp_path / "out", bundle=True, variants=("onnx-fp32",))
    assert report["bundle"]["name"] == "vehicle-edge" and report["bundle"]["variants"] == ["onnx-fp32"], report
    bundle = load_bundle(Path(report["bundle"]["path"]))
    assert bundle.manifest.version == 5 and bundle.manifest.trained_layers == "head"
    bundle.verify_variant("onnx-fp32")
    with np.load(report["weights"]) as data:
        assert all(np.array_equal(data[k], w) for k, w in zip(sorted(data.files), weights, strict=True))
