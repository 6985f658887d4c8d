"""The ``[serve]`` table of gateway.toml: typed, checked, every problem with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiotwin._exceptions import ConfigError
from gateway.config import ServeConfig, ServiceDelay, load_serve_config

EXAMPLE = """
[router]            # another loader's table: left alone
policy = "qedgeproxy"

[serve]
bundle = "bundles/cloud"
variant = "onnx-int8"
host = "0.0.0.0"
port = 0
max-batch = 16
max-wait-ms = 1.5
aliases = ["vehicle"]
node-id = "gw-east-1"

[serve.service-delay]
ms = 25.0
distribution = "normal"
sd-ms = 5.0

[serve.mdns]
interfaces = ["192.168.1.10"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_loads_with_relative_paths_resolved(tmp_path):
    cfg = load_serve_config(_write(tmp_path, EXAMPLE))
    assert cfg.bundle == tmp_path / "bundles" / "cloud"
    assert (cfg.variant, cfg.host, cfg.port, cfg.max_batch, cfg.max_wait_ms) == ("onnx-int8", "0.0.0.0", 0, 16, 1.5)
    assert cfg.aliases == ("vehicle",)
    assert cfg.service_delay == ServiceDelay(ms=25.0, distribution="normal", sd_ms=5.0)
    assert cfg.mdns.interfaces == ("192.168.1.10",)
    assert cfg.mdns.enabled


def test_no_serve_table_gives_the_defaults(tmp_path):
    assert load_serve_config(_write(tmp_path, "[router]\npolicy = 'random'\n")) == ServeConfig()


@pytest.mark.parametrize(("text", "where"), [
    ("[serve]\nmax-batch = 0\n", "max-batch"),
    ("[serve]\nmax-bach = 4\n", "serve/max-bach"),
    ("[serve]\nport = 'http'\n", "serve/port"),
    ("[serve]\nnode-id = 'has space'\n", "node-id"),
    ("[serve.service-delay]\ndistribution = 'gamma'\n", "serve/service-delay/distribution"),
    ("[serve.service-delay]\nms = -1.0\n", "delay_ms"),
    ("[serve.mdns]\nenabled = 'yes'\n", "serve/mdns/enabled"),
])
def test_bad_values_name_file_and_key(tmp_path, text, where):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_serve_config(path)
    message = str(info.value)
    assert str(path) in message
    assert where in message
