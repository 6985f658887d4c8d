"""The coordinator's packages: each ``__all__`` lists every public name, and importing stays light."""

from __future__ import annotations

import pytest

from tests._package import assert_all_lists_public_names, modules_loaded_after

MODULES = (
    "cloud_coordinator", "cloud_coordinator._exceptions", "cloud_coordinator.models", "cloud_coordinator.models.store",
    "cloud_coordinator.models.export", "cloud_coordinator.fl", "cloud_coordinator.fl.job",
    "cloud_coordinator.fl.metrics", "cloud_coordinator.fl.runs", "cloud_coordinator.fl.coordinator",
    "cloud_coordinator.fl.publisher", "cloud_coordinator.cli", "cloud_coordinator.cli._app",
    "cloud_coordinator.cli.fl", "cloud_coordinator.cli.models", "cloud_coordinator.cli.start",
)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_name(name):
    assert_all_lists_public_names(name)


def test_the_model_store_and_its_cli_import_neither_torch_nor_flwr():
    code = "import cloud_coordinator.models, cloud_coordinator.fl.publisher, cloud_coordinator.cli.models"
    assert modules_loaded_after(code, ("flwr", "torch", "onnx", "litert_torch")) == []
