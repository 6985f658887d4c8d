"""A corrupt bundle is refused: sha256/size/shape mismatches, truncated files, unknown variant ids.

Works on a copy of the shipped edge bundle and needs only the inference runtimes (no torch).
"""

from __future__ import annotations

import json
import shutil

import pytest

from aiotwin._exceptions import BundleError, BundleIntegrityError
from aiotwin.bundle import default_bundle_dir, load_bundle
from aiotwin.models.verify import verify_bundle

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")

SHIPPED = default_bundle_dir("edge")
pytestmark = pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="no shipped edge bundle")


@pytest.fixture
def copy(tmp_path):
    dst = tmp_path / "edge"
    shutil.copytree(SHIPPED, dst)
    return dst


def _edit(path, fn):
    data = json.loads((path / "manifest.json").read_text())
    fn(data)
    (path / "manifest.json").write_text(json.dumps(data))


def test_intact_copy_verifies(copy):
    verify_bundle(copy)


def test_sha256_mismatch_is_refused(copy):
    _edit(copy, lambda d: d["variants"]["onnx-fp32"].update(sha256="0" * 64))
    with pytest.raises(BundleIntegrityError, match="sha256"):
        verify_bundle(copy)


def test_size_mismatch_is_refused(copy):
    _edit(copy, lambda d: d["variants"]["tflite-int8"].update(size=d["variants"]["tflite-int8"]["size"] + 1))
    with pytest.raises(BundleIntegrityError, match="size"):
        verify_bundle(copy, ["tflite-int8"])


@pytest.mark.parametrize("variant", ["onnx-fp32", "onnx-int8", "tflite-int8"])
def test_truncated_file_is_refused(copy, variant):
    bundle = load_bundle(copy)
    path = bundle.variant_path(variant)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BundleIntegrityError):
        verify_bundle(copy, [variant])


@pytest.mark.parametrize("variant", ["onnx-fp32", "tflite-int8"])
def test_truncated_file_with_matching_manifest_fails_the_load_check(copy, variant):
    from aiotwin.bundle import sha256_file

    bundle = load_bundle(copy)
    path = bundle.variant_path(variant)
    path.write_bytes(path.read_bytes()[:4096])
    _edit(copy, lambda d: d["variants"][variant].update(size=4096, sha256=sha256_file(path)))
    with pytest.raises(BundleIntegrityError, match="does not load"):
        verify_bundle(copy, [variant])


@pytest.mark.parametrize("variant", ["onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"])
def test_input_shape_mismatch_is_refused(copy, variant):
    _edit(copy, lambda d: d["input"].update(height=32, width=32))
    with pytest.raises(BundleIntegrityError, match="input shape"):
        verify_bundle(copy, [variant])


def test_label_count_mismatch_is_refused(copy):
    _edit(copy, lambda d: d.update(labels=[*d["labels"], "tram"]))
    with pytest.raises(BundleIntegrityError, match="class scores"):
        verify_bundle(copy, ["onnx-fp32"])


def test_unknown_variant_id_is_refused(copy):
    _edit(copy, lambda d: d["variants"].update({"onnx-int4": d["variants"]["onnx-fp32"]}))
    with pytest.raises(BundleError, match="unknown variant id"):
        load_bundle(copy)


def test_missing_variant_file_is_refused(copy):
    (copy / "model.int8.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match="missing"):
        verify_bundle(copy, ["onnx-int8"])


def test_variant_not_in_manifest_is_refused(copy):
    _edit(copy, lambda d: d["variants"].pop("onnx-fp16"))
    with pytest.raises(BundleError, match="no variant"):
        verify_bundle(copy, ["onnx-fp16"])
