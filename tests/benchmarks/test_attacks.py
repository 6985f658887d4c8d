"""The robustness benchmark's attacks (``benchmarks/_attacks.py``): the pure functions, and the task wrappers.

Each wrapper must be a :class:`aiotwin.models.Task` loadable by reference (as a Flower run would name
it) and, after ``train()``, hold exactly the attacked weights: the pure attack applied to what the
plain vehicle classifier trains from the same weights with the same seed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from aiotwin.models import Task, load_task
from aiotwin.models.data import toy_store

ROOT = Path(__file__).resolve().parents[2]
VEHICLE = "aiotwin.models.vehicle:VehicleClassifier"
KWARGS = {"arch": "edge", "seed": 7, "train": {"freeze_bn": True, "threads": 1}}


@pytest.fixture(scope="module")
def atk():
    """``benchmarks._attacks``, importable by name (as a Flower run names it) from the project root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        yield importlib.import_module("benchmarks._attacks")


@pytest.mark.parametrize(("y", "classes", "want"), [
    ([0, 1, 2, 3, 4, 5], 6, [1, 2, 3, 4, 5, 0]),
    ([5, 5, 0], 6, [0, 0, 1]),
    ([0, 1, 2], 3, [1, 2, 0]),
    ([], 6, []),
])
def test_flip_labels(atk, y, classes, want):
    out = atk.flip_labels(np.asarray(y, np.int64), classes)
    assert out.dtype == np.int64
    assert out.tolist() == want


def test_label_flipped_store_keeps_images(atk):
    store = toy_store(12, seed=1)
    flipped = atk.LabelFlippedStore(store)
    assert len(flipped) == len(store)
    assert flipped.arrays()[0] is store.arrays()[0]
    assert flipped.arrays()[1].tolist() == atk.flip_labels(store.arrays()[1]).tolist()


def test_sign_flip_scales_and_negates(atk):
    delta = [np.array([1.0, -2.0], np.float32), np.zeros((2, 2), np.float32)]
    out = atk.sign_flip(delta, 10.0)
    assert [a.dtype for a in out] == [np.float32, np.float32]
    np.testing.assert_array_equal(out[0], [-10.0, 20.0])
    np.testing.assert_array_equal(out[1], np.zeros((2, 2)))


def test_gaussian_noise_is_scaled_per_tensor_and_seeded(atk):
    delta = [np.full(40_000, 0.01, np.float32), np.zeros(5, np.float32)]  # ‖δ₀‖ = 2
    out = atk.gaussian_noise(delta, np.random.default_rng(0), factor=1.5)
    assert out[0].shape == (40_000,) and out[0].dtype == np.float32
    assert float(np.std(out[0])) == pytest.approx(3.0, rel=0.02)  # σ = 1.5 × 2
    np.testing.assert_array_equal(out[1], np.zeros(5))  # an unchanged tensor stays unchanged
    again = atk.gaussian_noise(delta, np.random.default_rng(0), factor=1.5)
    np.testing.assert_array_equal(out[0], again[0])


def test_apply_to_weights_is_base_plus_attacked_delta(atk):
    base = [np.array([1.0, 1.0], np.float32)]
    local = [np.array([1.5, 0.0], np.float32)]
    out = atk.apply_to_weights(base, local, lambda d: atk.sign_flip(d, 2.0))
    np.testing.assert_allclose(out[0], [0.0, 3.0])
    assert out[0].dtype == np.float32


# --------------------------------------------------------------------------- the task wrappers (torch)


@pytest.fixture(scope="module")
def trained(atk):
    """The base weights, a toy store, and what the honest classifier trains from them (seed 7)."""
    pytest.importorskip("torch")
    store = toy_store(32, seed=2)
    base = load_task(VEHICLE, **{**KWARGS, "seed": 1}).get_weights()
    honest = load_task(VEHICLE, **KWARGS)
    honest.set_weights(base)
    honest.train(store, 1)
    flipped = load_task(VEHICLE, **KWARGS)
    flipped.set_weights(base)
    flipped.train(atk.LabelFlippedStore(store), 1)
    return base, store, honest.get_weights(), flipped.get_weights()


def _attacked(name: str, base, store, **extra):
    task = load_task(f"benchmarks._attacks:{name}", **KWARGS, **extra)
    assert isinstance(task, Task)
    assert task.name == "vehicle-edge" and len(task.labels) == 6
    task.set_weights(base)
    metrics = task.train(store, 1)
    assert {"loss", "accuracy"} <= metrics.keys()
    return task.get_weights()


def _delta(a, b):
    return [np.asarray(x, np.float64) - np.asarray(y, np.float64) for x, y in zip(a, b, strict=True)]


@pytest.mark.train
def test_label_flip_vehicle_trains_on_flipped_labels(trained):
    base, store, _, flipped = trained
    for got, want in zip(_attacked("LabelFlipVehicle", base, store), flipped, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.train
def test_sign_flip_vehicle_leaves_minus_scale_times_the_honest_step(trained):
    base, store, honest, _ = trained
    got = _delta(_attacked("SignFlipVehicle", base, store, scale=10.0), base)
    for g, h in zip(got, _delta(honest, base), strict=True):
        np.testing.assert_allclose(g, -10.0 * h, rtol=1e-4, atol=1e-5)
    assert any(np.any(h != 0) for h in _delta(honest, base))


@pytest.mark.train
def test_noise_vehicle_leaves_seeded_noise_of_the_honest_scale(atk, trained):
    base, store, honest, _ = trained
    got = _delta(_attacked("NoiseVehicle", base, store, factor=1.0), base)
    want = atk.gaussian_noise(_delta(honest, base), np.random.default_rng([KWARGS["seed"], 0]), 1.0)
    for g, w, h in zip(got, want, _delta(honest, base), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
        if not np.any(h):  # BatchNorm statistics under freeze_bn: untouched by training and by the attack
            assert not np.any(g)
    noise_norm = np.sqrt(sum(float(np.sum(g * g)) for g in got))
    honest_norm = np.sqrt(sum(float(np.sum(h * h)) for h in _delta(honest, base)))
    assert noise_norm > 10 * honest_norm
