"""load_task: every bad reference is a ConfigError naming the ref, never a bare traceback."""

from __future__ import annotations

import numpy as np
import pytest

from aiotwin._exceptions import ConfigError
from aiotwin.models import ArrayStore, SampleStore, load_task
from tests._package import modules_loaded_after


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_colon_here", "must look like"),
        ("pkg.mod:Class:extra", "must look like"),
        ("1bad.module:Class", "must look like"),
        ("aiotwin.no_such_module:Task", "no module named"),
        ("aiotwin.labels:NoSuchClass", "has no attribute"),
        ("aiotwin.labels:CLASSES", "not a class or factory"),
        ("collections:OrderedDict", "does not implement"),
    ],
)
def test_bad_task_refs_raise_config_error(ref, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_task(ref)
    assert info.value.problems[0].key == "task"


def test_bad_kwargs_raise_config_error():
    with pytest.raises(ConfigError, match="cannot be created"):
        load_task("aiotwin.models.task:ArrayStore", nonsense=1)


def test_array_store_is_a_sample_store():
    store = ArrayStore(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 2, 3])
    assert isinstance(store, SampleStore)
    assert len(store) == 4
    x, y = store.arrays()
    assert x.shape == (4, 8, 8, 3)
    assert y.dtype == np.int64
    assert len(store.subset([0, 2])) == 2


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (np.zeros((4, 8, 8, 3), np.float32), [0, 1, 2, 3]),
        (np.zeros((4, 8, 8), np.uint8), [0, 1, 2, 3]),
        (np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 2]),
        (np.zeros((4, 8, 8, 3), np.uint8), [0.0, 1.0, 2.0, 3.0]),
    ],
)
def test_array_store_validates(x, y):
    with pytest.raises(ValueError):
        ArrayStore(x, y)


def test_importing_the_models_package_does_not_import_torch():
    code = ("import aiotwin.models, aiotwin.models.recipe, aiotwin.models.data, aiotwin.models.build, "
            "aiotwin.models.verify, aiotwin.cli.models")
    assert modules_loaded_after(code, ("torch", "onnx", "litert_torch", "onnxruntime")) == []


def test_a_small_store_gets_a_smaller_batch_but_enough_steps():
    pytest.importorskip("torch")
    from aiotwin.models.train import MIN_BATCH, MIN_STEPS_PER_EPOCH, batch_size_for

    assert batch_size_for(12_000, 128) == 128  # the recipe's big store keeps its batch
    assert batch_size_for(400, 128) == 400 // MIN_STEPS_PER_EPOCH
    assert batch_size_for(50, 128) == MIN_BATCH  # never below MIN_BATCH …
    assert batch_size_for(50, 8) == 8  # … unless configured smaller
