"""Package hygiene for the gateway role: public names, error tree, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gateway
from aiotwin import AiotwinError
from gateway import _exceptions
from tests._package import assert_all_lists_public_names

MODULES = (
    "gateway", "gateway.router", "gateway.router.config", "gateway.router.kde", "gateway.router.window",
    "gateway.router.swrr", "gateway.router.policy", "gateway.router.qedgeproxy", "gateway.router.baselines",
    "gateway.router.outlier", "gateway.router.retry", "gateway.router.factory", "gateway.router.sim",
    "gateway.router.scenarios", "gateway.router.http_config", "gateway.proxy", "gateway._web",
)


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_public_names(name):
    assert_all_lists_public_names(name)


def test_every_error_derives_from_the_package_base():
    for n in _exceptions.__all__:
        cls = getattr(gateway, n)
        assert issubclass(cls, AiotwinError)
        assert issubclass(cls, gateway.GatewayError)
        assert n in (_exceptions.__doc__ or "")


def test_router_imports_no_io_or_heavy_module_in_a_fresh_interpreter():
    probe = (
        "import sys, gateway.router, gateway.router.sim, gateway.router.scenarios\n"
        "bad = ('asyncio', 'aiohttp', 'socket', 'numpy', 'torch', 'device_runtime')\n"
        "print(','.join(m for m in bad if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
