"""The engine contract (STYLE rule 34): one test class, run against every variant of the tiny bundle
built here and of the shipped bundle (aiotwin/models/bundles/edge), skipping what cannot run here."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from aiotwin._exceptions import BundleIntegrityError, EngineError
from aiotwin.bundle import VARIANT_IDS, Bundle, load_bundle
from aiotwin.engines import Engine, engine_available, open_engine
from aiotwin.engines import _registry as registry
from tests.aiotwin.engines import tiny_bundle
from tests.aiotwin.engines.conftest import shipped_bundle

AGREEMENT_MIN = 0.95
SAMPLES = 200


@dataclass
class Case:
    bundle: Bundle
    variant: str
    crops: np.ndarray | None  # model-sized crops in the bundle's colour order; None: none available


def _shipped_crops(bundle: Bundle) -> np.ndarray | None:
    """Holdout crops from the scene renderer; the toy crops a toy-built bundle was trained on; or None."""
    from aiotwin.models import data, recipe

    size = bundle.manifest.input.height
    try:
        if bundle.manifest.extra.get("build", {}).get("toy"):
            x, _ = data.toy_store(SAMPLES, seed=11, size=size).arrays()
        else:
            per_camera = -(-SAMPLES // max(1, len(recipe.HOLDOUT_CAMERAS)))
            x, _ = data.holdout_store(per_camera=per_camera).arrays()
    except Exception:  # the renderer is not there (yet): the agreement test skips
        return None
    if len(x) == 0:
        return None
    x = x[:SAMPLES]
    return x if bundle.manifest.input.color == "rgb" else np.ascontiguousarray(x[..., ::-1])


def _bundle_for(kind: str, variant: str, request: pytest.FixtureRequest) -> tuple[Bundle, np.ndarray | None]:
    if kind == "tiny":
        name = "tiny_tflite" if variant.startswith("tflite") else "tiny"
        return request.getfixturevalue(name), tiny_bundle.sample_crops(SAMPLES, seed=3)
    bundle = shipped_bundle()
    if bundle is None:
        pytest.skip("the shipped bundle aiotwin/models/bundles/edge is not built yet")
    return bundle, _shipped_crops(bundle)


def _param(kind: str, variant: str):
    # The tiny TFLite files are built with litert-torch: the export extra.
    marks = [pytest.mark.export] if kind == "tiny" and variant.startswith("tflite") else []
    return pytest.param((kind, variant), id=f"{kind}-{variant}", marks=marks)


@pytest.fixture(params=[_param(k, v) for k in ("tiny", "shipped") for v in VARIANT_IDS])
def case(request: pytest.FixtureRequest) -> Case:
    kind, variant = request.param
    bundle, crops = _bundle_for(kind, variant, request)
    if variant not in bundle.manifest.variants:
        pytest.skip(f"{kind} bundle has no {variant} file here")
    return Case(bundle, variant, crops)


@pytest.fixture
def engine(case: Case):
    reason = engine_available(case.variant)
    if reason:
        pytest.skip(reason)
    e = open_engine(case.bundle, case.variant)
    yield e
    e.close()


def _batch(case: Case, n: int) -> np.ndarray:
    if case.crops is not None:
        return case.crops[:n]
    spec = case.bundle.manifest.input
    return np.random.default_rng(0).integers(0, 256, (n, spec.height, spec.width, 3), dtype=np.uint8)


class TestEngineContract:
    def test_outputs_are_probabilities(self, case: Case, engine: Engine):
        probs = engine.classify(_batch(case, 8))
        assert probs.dtype == np.float32
        assert probs.shape == (8, len(case.bundle.manifest.labels))
        assert np.all(probs >= 0)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)

    def test_batch_of_8_matches_items(self, case: Case, engine: Engine):
        batch = _batch(case, 8)
        together = engine.classify(batch)
        alone = np.concatenate([engine.classify(batch[i:i + 1]) for i in range(8)])
        np.testing.assert_allclose(together, alone, atol=2e-3)
        assert engine.classify(batch[:3]).shape[0] == 3  # a changed batch size after 8 and 1

    def test_empty_batch(self, case: Case, engine: Engine):
        spec = case.bundle.manifest.input
        out = engine.classify(np.zeros((0, spec.height, spec.width, 3), np.uint8))
        assert out.shape == (0, len(case.bundle.manifest.labels))

    @pytest.mark.parametrize("bad", ["wrong-size", "wrong-dtype", "rank-3", "not-array"])
    def test_wrong_input_raises_engine_error(self, case: Case, engine: Engine, bad: str):
        spec = case.bundle.manifest.input
        batch = {
            "wrong-size": np.zeros((1, spec.height + 1, spec.width, 3), np.uint8),
            "wrong-dtype": np.zeros((1, spec.height, spec.width, 3), np.float32),
            "rank-3": np.zeros((spec.height, spec.width, 3), np.uint8),
            "not-array": [[0]],
        }[bad]
        with pytest.raises(EngineError):
            engine.classify(batch)  # type: ignore[arg-type]

    def test_closed_engine_raises(self, case: Case, engine: Engine):
        engine.close()
        with pytest.raises(EngineError, match="closed"):
            engine.classify(_batch(case, 1))

    def test_reports_variant_and_provider(self, case: Case, engine: Engine):
        assert engine.variant == case.variant
        assert engine.provider

    def test_top1_agrees_with_fp32(self, case: Case, engine: Engine):
        if case.crops is None:
            pytest.skip("no sample crops for this bundle (aiotwin.scenes.crop_dataset missing)")
        if case.variant == "onnx-fp32" or "onnx-fp32" not in case.bundle.manifest.variants:
            pytest.skip("this is the fp32 reference (or the bundle has none)")
        ref = open_engine(case.bundle, "onnx-fp32")
        try:
            agree = np.mean(engine.classify(case.crops).argmax(1) == ref.classify(case.crops).argmax(1))
        finally:
            ref.close()
        assert agree >= AGREEMENT_MIN

    def test_corrupt_file_raises_before_load(self, case: Case, tmp_path: Path, monkeypatch):
        # No runtime needed: the check runs before any is imported.
        copy = tmp_path / "bundle"
        shutil.copytree(case.bundle.path, copy)
        target = copy / case.bundle.manifest.variants[case.variant].file
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        loaded: list[str] = []
        monkeypatch.setattr(registry, "FACTORIES", {k: lambda *a: loaded.append("x") for k in registry.FACTORIES})
        with pytest.raises(BundleIntegrityError):
            open_engine(load_bundle(copy), case.variant)
        assert loaded == []
