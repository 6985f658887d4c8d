"""Hygiene of the instance's packages: ``__all__`` matches public names; the error tree is documented."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gateway
from gateway import _exceptions
from tests._package import assert_all_lists_public_names

MODULES = (
    "gateway.config", "gateway.serve", "gateway.serve._codec", "gateway.serve._worker", "gateway.serve._batcher",
    "gateway.serve._load", "gateway.serve._metrics", "gateway.serve._model", "gateway.serve._http",
    "gateway.serve._server", "gateway.transports", "gateway.transports.mdns", "gateway.cli", "gateway.cli._app",
    "gateway.cli.serve", "gateway.cli.doctor",
)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_name(name):
    assert_all_lists_public_names(name)


def test_serve_reexports_the_public_api_of_its_private_modules():
    import gateway.serve as serve

    public = {n for n in dir(serve) if not n.startswith("_") and not isinstance(getattr(serve, n), type(sys))}
    assert set(serve.__all__) == public


def test_every_gateway_error_derives_from_the_base_and_is_drawn_in_the_tree():
    for n in _exceptions.__all__:
        cls = getattr(gateway, n)
        assert issubclass(cls, gateway.GatewayError)
        assert n in (_exceptions.__doc__ or "")
    for cls in (gateway.UnsupportedContentType, gateway.MalformedInput, gateway.UnknownModel,
                gateway.BodyTooLarge, gateway.InstanceOverloaded):
        assert str(cls.status) in (_exceptions.__doc__ or "")


def test_importing_serve_and_mdns_loads_no_heavy_backend():
    probe = ("import sys, gateway.serve, gateway.transports.mdns, gateway.cli\n"
             "print(','.join(m for m in ('cv2', 'onnxruntime', 'torch', 'ai_edge_litert', 'device_runtime')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""
