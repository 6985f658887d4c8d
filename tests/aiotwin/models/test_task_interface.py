"""The Task interface on the reference VehicleClassifier (needs torch: the train extra)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aiotwin.models import ArrayStore, Task, WeightsMismatch, load_task
from aiotwin.models.data import toy_store
from aiotwin.models.recipe import TASK_REF, TrainConfig

pytest.importorskip("torch")
pytestmark = pytest.mark.train

FAST = TrainConfig(epochs=1, batch_size=32)


def _task(seed: int = 0, arch: str = "edge"):
    return load_task(TASK_REF, arch=arch, seed=seed, train_config=FAST)


@pytest.fixture(scope="module")
def toy() -> ArrayStore:
    return toy_store(96, seed=3)


def test_load_task_builds_a_task():
    task = _task()
    assert isinstance(task, Task)
    assert task.name == "vehicle-edge"
    assert task.version == 0
    assert len(task.labels) == 6


def test_get_set_weights_round_trip():
    a, b = _task(seed=1), _task(seed=2)
    wa = a.get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(wa, b.get_weights(), strict=True))
    b.set_weights(wa, version=7)
    assert b.version == 7
    for x, y in zip(wa, b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_get_weights_returns_copies():
    task = _task()
    w = task.get_weights()
    w[0][...] = 0
    assert not np.array_equal(task.get_weights()[0], w[0])


def test_set_weights_shape_mismatch_is_refused():
    task = _task()
    w = task.get_weights()
    w[0] = np.zeros((*w[0].shape[:-1], w[0].shape[-1] + 1), dtype=w[0].dtype)
    with pytest.raises(WeightsMismatch, match="shape"):
        task.set_weights(w)


def test_set_weights_count_mismatch_and_nan_are_refused():
    task = _task()
    w = task.get_weights()
    with pytest.raises(WeightsMismatch, match="arrays"):
        task.set_weights(w[:-1])
    w[-1] = np.full_like(w[-1], np.nan)
    with pytest.raises(WeightsMismatch, match="NaN"):
        task.set_weights(w)


def test_cloud_weights_do_not_fit_edge():
    with pytest.raises(WeightsMismatch):
        _task().set_weights(_task(arch="cloud").get_weights())


def test_head_only_training_changes_only_the_head(toy):
    task = _task()
    names = task.weight_names
    before = task.get_weights()
    metrics = task.train(toy, 1, layers="head")
    after = task.get_weights()
    assert metrics["epochs"] == 1
    changed = {n for n, x, y in zip(names, before, after, strict=True) if not np.array_equal(x, y)}
    assert changed
    assert all(n.startswith("head.") for n in changed), changed
    assert task.trained_layers == "head"  # type: ignore[attr-defined]


def test_full_training_changes_the_backbone(toy):
    task = _task()
    before = task.get_weights()
    task.train(toy, 1)
    changed = [n for n, x, y in zip(task.weight_names, before, task.get_weights(), strict=True)
               if not np.array_equal(x, y)]
    assert any(n.startswith("features.") for n in changed)


def test_training_is_reproducible(toy):
    a, b = _task(seed=5), _task(seed=5)
    a.train(toy, 1)
    b.train(toy, 1)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_evaluate_reports_accuracy_loss_and_per_class(toy):
    metrics = _task().evaluate(toy)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["loss"] > 0
    assert {f"accuracy/{c}" for c in ("car", "bus", "pedestrian")} <= set(metrics)


def test_train_rejects_bad_layers(toy):
    with pytest.raises(ValueError, match="layers"):
        _task().train(toy, 1, layers="backbone")  # type: ignore[arg-type]


def test_a_few_epochs_learn_the_toy_task():
    task = load_task(TASK_REF, arch="edge", seed=0, train_config=replace(FAST, batch_size=64))
    task.train(toy_store(600, seed=1), 6)
    assert task.evaluate(toy_store(120, seed=2))["accuracy"] >= 0.6  # chance is 1/6


def test_augment_is_seeded_and_keeps_shape_and_dtype():
    from aiotwin.models.recipe import TRAIN_CONFIG
    from aiotwin.models.train import augment

    x = toy_store(16, seed=4).arrays()[0]
    a = augment(x, TRAIN_CONFIG, np.random.default_rng(1))
    b = augment(x, TRAIN_CONFIG, np.random.default_rng(1))
    assert a.shape == x.shape
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)


def test_class_weights_favour_rare_classes():
    from aiotwin.models.train import class_weights

    w = class_weights(np.array([0, 0, 0, 0, 1, 2]), 4, 0.5)
    assert w is not None
    assert w[1] > w[0]
    assert w[3] == 0
    assert class_weights(np.array([0, 1]), 2, 0.0) is None


def test_train_overrides_come_as_json_friendly_kwargs():
    task = load_task(TASK_REF, arch="edge", train={"optimizer": "sgd", "lr": 0.01, "freeze_bn": True, "epochs": 2})
    cfg = task.train_config
    assert (cfg.optimizer, cfg.lr, cfg.freeze_bn, cfg.epochs) == ("sgd", 0.01, True, 2)
    assert cfg.batch_size == TrainConfig().batch_size  # the rest stays the recipe's


@pytest.mark.parametrize(("train", "message"), [
    ({"learning_rate": 0.1}, "unknown training setting"),
    ({"lr": "fast"}, "'lr' must be float"),
    ({"freeze_bn": 1}, "'freeze_bn' must be bool"),
    ({"optimizer": "adagrad"}, "'optimizer' must be one of"),
])
def test_bad_train_overrides_are_a_config_error(train, message):
    from aiotwin.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_task(TASK_REF, arch="edge", train=train)


def test_frozen_batchnorm_keeps_its_running_statistics(toy):
    frozen = _task()
    frozen.train_config = replace(FAST, freeze_bn=True)
    before = {k: v.clone() for k, v in frozen.net.state_dict().items() if "running" in k}
    frozen.train(toy, 1)
    after = frozen.net.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    free = _task()
    free.train(toy, 1)
    moved = free.net.state_dict()
    assert any(not np.array_equal(before[k].numpy(), moved[k].numpy()) for k in before)


def test_sgd_trains_too(toy):
    task = _task()
    task.train_config = replace(FAST, optimizer="sgd", lr=0.01)
    w0 = task.get_weights()
    task.train(toy, 1)
    assert any(not np.array_equal(a, b) for a, b in zip(w0, task.get_weights(), strict=True))


def test_local_classes_only_leaves_absent_classes_alone(toy):
    x, y = toy.arrays()
    two = ArrayStore(x[y < 2], y[y < 2])  # a camera that only ever sees classes 0 and 1

    def head_bias_change(local_only: bool) -> np.ndarray:
        task = _task()
        task.train_config = replace(FAST, local_classes_only=local_only, label_smoothing=0.1)
        before = task.net.head.fc.bias.detach().numpy().copy()
        task.train(two, 1)
        return np.abs(task.net.head.fc.bias.detach().numpy() - before)

    restricted, full = head_bias_change(True), head_bias_change(False)
    assert restricted[2:].max() < 1e-6 < full[2:].min()  # absent classes: untouched vs pushed down
    assert restricted[:2].min() > 1e-4  # the classes it holds still learn
