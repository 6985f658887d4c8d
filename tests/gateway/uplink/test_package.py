"""Package hygiene of the uplink: public names match ``__all__``; importing it needs no aiocoap."""

from __future__ import annotations

import pytest

from tests._package import assert_all_lists_public_names, modules_loaded_after

MODULES = ("gateway.uplink", "gateway.uplink._store", "gateway.uplink._server", "gateway.uplink._coap",
           "aiotwin.discovery", "device_runtime.uplink", "device_runtime._budget", "device_runtime._locate")


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_public_names(name):
    assert_all_lists_public_names(name)


def test_importing_the_uplinks_loads_no_coap_library():
    code = "import gateway.uplink, device_runtime.uplink, aiotwin.discovery"
    assert modules_loaded_after(code, ("aiocoap", "torch", "onnxruntime", "cv2")) == []
