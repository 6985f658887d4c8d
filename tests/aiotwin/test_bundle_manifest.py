import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin import BundleError, BundleIntegrityError
from aiotwin.bundle import load_bundle, parse_manifest, sha256_file

GOOD = {
    "name": "vehicle-edge",
    "version": 1,
    "task": "aiotwin.models.vehicle:VehicleClassifier",
    "arch": "edge",
    "labels": ["car", "bus"],
    "input": {"height": 64, "width": 64},
    "variants": {
        "onnx-fp32": {"file": "m.onnx", "sha256": "0" * 64, "size": 3, "layout": "nchw", "dtype": "float32"}
    },
}


def mutate(**changes):
    data = json.loads(json.dumps(GOOD))
    for dotted, value in changes.items():
        cur = data
        *parents, last = dotted.split("__")
        for p in parents:
            cur = cur[p]
        if value is KeyError:
            del cur[last]
        else:
            cur[last] = value
    return json.dumps(data)


def test_good_manifest_parses():
    m = parse_manifest(json.dumps(GOOD))
    assert m.version == 1
    assert m.variants["onnx-fp32"].layout == "nchw"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"version": KeyError}, "version"),
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"labels": []}, "labels"),
        ({"variants": {}}, "no variants"),
        ({"variants__onnx-fp33": {}}, "unknown variant"),
        ({"variants__onnx-fp32__file": "../etc/passwd"}, "plain file name"),
        ({"variants__onnx-fp32__sha256": "xyz"}, "sha256"),
        ({"variants__onnx-fp32__layout": "chw"}, "layout"),
        ({"input__height": 4}, "shape"),
        ({"format": 2}, "format"),
    ],
)
def test_bad_manifests_are_refused(changes, fragment):
    with pytest.raises(BundleError, match=fragment):
        parse_manifest(mutate(**changes))


def test_not_json_and_not_object():
    with pytest.raises(BundleError, match="JSON"):
        parse_manifest(b"\xff{")
    with pytest.raises(BundleError, match="object"):
        parse_manifest("[1]")


def test_verify_variant_checks_size_and_digest(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"abc")
    data = json.loads(json.dumps(GOOD))
    data["variants"]["onnx-fp32"]["sha256"] = sha256_file(tmp_path / "m.onnx")
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    bundle = load_bundle(tmp_path)
    assert bundle.verify_variant("onnx-fp32") == tmp_path / "m.onnx"
    (tmp_path / "m.onnx").write_bytes(b"abd")
    with pytest.raises(BundleIntegrityError, match="sha256"):
        bundle.verify_variant("onnx-fp32")
    (tmp_path / "m.onnx").write_bytes(b"ab")
    with pytest.raises(BundleIntegrityError, match="size"):
        bundle.verify_variant("onnx-fp32")
    with pytest.raises(BundleError, match="no variant"):
        bundle.verify_variant("tflite-int8")


def test_missing_manifest(tmp_path):
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path)


@given(st.binary(max_size=500))
def test_fuzz_manifest_bytes(raw):
    try:
        parse_manifest(raw)
    except BundleError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                    max_leaves=20))
def test_fuzz_manifest_structure(obj):
    base = json.loads(json.dumps(GOOD))
    for key in list(base):
        broken = dict(base)
        broken[key] = obj
        try:
            parse_manifest(json.dumps(broken))
        except BundleError:
            pass
