"""``GatewayNode`` with ``[fl]``: a federation that cannot start is a clear error and leaves nothing running.

Unusable TLS files make the edge SuperLink fail before any Flower process starts, so this runs
fast; the real federation under ``aiotwin-gateway start`` is tested in
``tests/fl/test_gateway_start_e2e.py`` (slow).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from aiotwin.exitcodes import ExitCode
from gateway import FederationStartFailed
from gateway.cli import app
from gateway.config import FlConfig
from gateway.daemon import FlOptions, GatewayNode
from gateway.router.config import RouterConfig
from gateway.router.http_config import HttpConfig, RouterMdnsConfig
from tests._package import modules_loaded_after
from tests.fl.conftest import needs_flower

pytestmark = needs_flower


def _junk_tls(tmp_path):
    for name in ("ca.pem", "gw.pem", "gw.key"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")
    return {"ssl_ca_certfile": tmp_path / "ca.pem", "ssl_certfile": tmp_path / "gw.pem",
            "ssl_keyfile": tmp_path / "gw.key", "coordinator_ca": tmp_path / "ca.pem"}


def test_a_federation_that_cannot_start_fails_start_and_shutdown_still_stops_the_router(tmp_path):
    fl = FlConfig(enabled=True, coordinator="127.0.0.1:9", **_junk_tls(tmp_path))
    router = RouterConfig(http=HttpConfig(host="127.0.0.1", port=0), mdns=RouterMdnsConfig(enabled=False))
    node = GatewayNode(router, fl=FlOptions(fl, tmp_path / "data" / "fl", "gw-0"))

    async def run():
        try:
            with pytest.raises(FederationStartFailed, match="did not start") as err:
                await node.start()
            assert node.federation is None
            return err.value
        finally:
            await node.shutdown()  # what run_daemon does after a failed start

    exc = asyncio.run(run())
    assert "not a PEM certificate" in str(exc), exc
    assert not node.router.config.mdns.enabled and node.uplink is None
    state = tmp_path / "data" / "fl" / "federation.json"
    assert not state.exists()  # it never got to running


def test_start_exits_with_the_fl_code_and_the_reason(tmp_path):
    tls = _junk_tls(tmp_path)
    config = tmp_path / "gateway.toml"
    config.write_text("[fl]\nenabled = true\ncoordinator = \"127.0.0.1:9\"\n"
                      + "".join(f"{k.replace('_', '-')} = {json.dumps(str(v))}\n" for k, v in tls.items()),
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["start", "--no-mdns", "--no-coap", "--host", "127.0.0.1", "--port", "0",
                                      "--data-dir", str(tmp_path / "data"), "--config", str(config)])
    assert result.exit_code == ExitCode.GATEWAY_FL_FAILED, result.output
    assert "federated learning did not start" in result.output


def test_without_fl_the_daemon_and_cli_import_nothing_of_flower():
    flower = ("gateway.fl", "aiotwin.flower", "flwr", "torch")
    assert modules_loaded_after("import gateway.daemon, gateway.cli", flower) == []
