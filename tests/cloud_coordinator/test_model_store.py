"""The coordinator's model store: atomic publish, idempotence, refused bundles, listing, readers beside the writer.

Bundles here are hand-made (a manifest + variant files of random bytes with their real sha256):
the store checks the format and the hashes, not what a variant computes. No torch.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from aiotwin.bundle import InputSpec, Manifest, VariantEntry, load_bundle, sha256_file
from aiotwin.exitcodes import ExitCode
from cloud_coordinator import BundleRejected, ModelNotFound, ModelStoreError, ModelVersionExists
from cloud_coordinator.cli import app
from cloud_coordinator.models import ModelStore, Provenance, store_dir
from cloud_coordinator.models.store import INDEX_FILE, TMP_DIR

FILES = {"onnx-fp32": ("model.fp32.onnx", "nchw", 0.75), "tflite-int8": ("model.int8.tflite", "nhwc", 0.7)}


def make_bundle(path, *, name="vehicle-edge", version=5, seed=0):
    path.mkdir(parents=True, exist_ok=True)
    variants = {}
    for i, (vid, (file, layout, acc)) in enumerate(FILES.items()):
        (path / file).write_bytes(bytes([seed, i]) + os.urandom(200))
        variants[vid] = VariantEntry(file, sha256_file(path / file), (path / file).stat().st_size, layout, "float32",
                                     acc, 0.4)
    manifest = Manifest(name=name, version=version, task="aiotwin.models.vehicle:VehicleClassifier", arch="edge",
                        labels=("car", "bus"), input=InputSpec(64, 64), variants=variants, trained_layers="head")
    (path / "manifest.json").write_text(manifest.to_json())
    return path


@pytest.fixture
def store(tmp_path):
    with ModelStore.open(store_dir(tmp_path / "coord")) as s:
        yield s


def staged(store, **kw):
    return make_bundle(store.staging_dir() / "bundle", **kw)


PROV = Provenance("20260101T000000Z-abcdef", 2, "3", "/data/holdout.npz")


def test_a_published_bundle_is_in_place_indexed_and_loads(store):
    src = staged(store)
    manifest_sha = sha256_file(src / "manifest.json")
    record = store.publish(src, PROV)

    assert not src.exists()
    assert record.path == store.root / "vehicle-edge" / "5"
    bundle = load_bundle(record.path)
    for vid in bundle.manifest.variants:
        bundle.verify_variant(vid)
    assert (record.name, record.version, record.run_id, record.global_round, record.base_version) == (
        "vehicle-edge", 5, PROV.run_id, 2, "3")
    assert record.accuracy == 0.75  # onnx-fp32's: the reference variant
    assert record.variants == ("onnx-fp32", "tflite-int8") and record.trained_layers == "head"
    assert record.manifest_sha256 == manifest_sha and record.holdout == "/data/holdout.npz"
    assert record.task == "aiotwin.models.vehicle:VehicleClassifier" and record.created_at > 0
    assert store.get("vehicle-edge", 5) == record == store.for_round(PROV.run_id, 2)


def test_listing_orders_by_name_and_version_and_a_reader_sees_the_writer(store):
    for name, version, rnd in (("vehicle-edge", 6, 3), ("vehicle-cloud", 1, 1), ("vehicle-edge", 5, 2)):
        store.publish(staged(store, name=name, version=version), Provenance("run-a", rnd, "1"))
    assert [(r.name, r.version) for r in store.list_models()] == [
        ("vehicle-cloud", 1), ("vehicle-edge", 5), ("vehicle-edge", 6)]
    assert [r.version for r in store.list_models("vehicle-edge")] == [5, 6]
    assert store.latest("vehicle-edge").version == 6 and store.latest("nope") is None
    with ModelStore.open(store.root, readonly=True) as reader:  # while the writer holds its lock
        assert [r.to_dict() for r in reader.list_models()] == [r.to_dict() for r in store.list_models()]
        with pytest.raises(ModelNotFound, match="version 9"):
            reader.get("vehicle-edge", 9)


def test_the_same_run_and_round_again_is_idempotent_another_run_is_refused(store):
    first = store.publish(staged(store), PROV)
    again = staged(store)
    assert store.publish(again, PROV) == first
    assert again.is_dir()  # left to the caller; the stored bundle is untouched
    other = staged(store, seed=9)
    with pytest.raises(ModelVersionExists, match=f"already published by run {PROV.run_id} round 2"):
        store.publish(other, Provenance("another-run", 1, "4"))
    assert other.is_dir() and len(store.list_models()) == 1
    assert sha256_file(first.path / "manifest.json") == first.manifest_sha256


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda p: (p / "model.int8.tflite").write_bytes(b"tampered"), "size"),
    (lambda p: (p / "model.fp32.onnx").unlink(), "missing"),
    (lambda p: (p / "manifest.json").unlink(), "cannot read manifest"),
    (lambda p: (p / "manifest.json").write_text("{"), "not valid JSON"),
])
def test_a_bad_bundle_is_refused_and_nothing_is_published(store, spoil, message):
    src = staged(store)
    spoil(src)
    with pytest.raises(BundleRejected, match=message):
        store.publish(src, PROV)
    assert store.list_models() == [] and not (store.root / "vehicle-edge").exists()


def test_a_name_that_is_not_a_directory_name_is_refused(store):
    with pytest.raises(BundleRejected, match="not usable as a directory name"):
        store.publish(staged(store, name="../evil"), PROV)
    assert store.list_models() == []


def test_a_failed_move_leaves_no_row_and_the_staged_bundle(store):
    (store.root / "vehicle-edge").write_text("a file where the bundle's directory should go")
    src = staged(store)
    with pytest.raises(ModelStoreError, match="cannot move the bundle"):
        store.publish(src, PROV)
    assert store.list_models() == [] and (src / "manifest.json").is_file()


def test_an_orphan_directory_without_a_row_is_replaced(store):
    orphan = make_bundle(store.root / "vehicle-edge" / "5", seed=7)  # a publish died between rename and commit
    (orphan / "stray").write_text("x")
    record = store.publish(staged(store), PROV)
    assert not (record.path / "stray").exists()
    load_bundle(record.path)


def test_one_writer_at_a_time_and_leftovers_are_swept(tmp_path):
    root = store_dir(tmp_path)
    with ModelStore.open(root) as store:
        leftover = store.staging_dir()
        (leftover / "half.onnx").write_bytes(b"x")
        with pytest.raises(ModelStoreError, match="in use by another process"):
            ModelStore.open(root)
    with ModelStore.open(root):
        assert not (root / TMP_DIR).exists()
    with pytest.raises(ModelStoreError, match="no model store"):
        ModelStore.open(tmp_path / "elsewhere", readonly=True)


def test_the_cli_lists_and_shows_published_bundles(tmp_path):
    runner = CliRunner()
    work = tmp_path / "coord"
    out = runner.invoke(app, ["models", "list", "-w", str(work), "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.output) == []
    with ModelStore.open(store_dir(work)) as store:
        record = store.publish(staged(store), PROV)
    out = runner.invoke(app, ["models", "list", "-w", str(work), "--format", "json"])
    [listed] = json.loads(out.output)
    assert listed["name"] == "vehicle-edge" and listed["version"] == 5 and listed["run-id"] == PROV.run_id
    assert listed["path"] == str(record.path) and listed["global-round"] == 2

    out = runner.invoke(app, ["models", "show", "vehicle-edge", "5", "-w", str(work), "--verify", "--format", "json"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)
    assert shown["verified"] and shown["manifest"]["version"] == 5
    assert shown["manifest-sha256"] == record.manifest_sha256
    text = runner.invoke(app, ["models", "show", "vehicle-edge", "5", "-w", str(work)])
    assert text.exit_code == 0 and "onnx-fp32" in text.output
    assert runner.invoke(app, ["models", "list", "-w", str(work)]).exit_code == 0

    missing = runner.invoke(app, ["models", "show", "vehicle-edge", "6", "-w", str(work)])
    assert missing.exit_code == ExitCode.COORDINATOR_MODEL_NOT_FOUND == 154
    (record.path / "model.int8.tflite").write_bytes(b"bit rot")
    spoiled = runner.invoke(app, ["models", "show", "vehicle-edge", "5", "-w", str(work), "--verify"])
    assert spoiled.exit_code == ExitCode.COORDINATOR_MODEL_STORE_ERROR and "size" in spoiled.output
    assert (store_dir(work) / INDEX_FILE).is_file()
