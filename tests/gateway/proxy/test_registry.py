"""Static and discovered instances, and the hop's configuration (``[router.http]``, instances)."""

from __future__ import annotations

import pytest

from aiotwin import ConfigError
from aiotwin.config import dump_dataclass
from gateway import InvalidRouterConfig
from gateway.config import load_router_file
from gateway.proxy import InstanceRegistry
from gateway.router import RouterConfig, load_router_config
from gateway.router.http_config import HttpConfig, StaticInstance


def test_static_instances_come_first_and_mdns_ones_follow_discovery():
    reg = InstanceRegistry([StaticInstance("http://10.0.0.1:8480", rtt_ms=2.0)])
    assert reg.upsert_mdns("gw-2", "http://10.0.0.2:8480/")
    assert not reg.upsert_mdns("gw-2", "http://10.0.0.2:8480")  # nothing changed
    assert reg.upsert_mdns("gw-2", "http://10.0.0.9:8480")  # rediscovered at a new address: same id
    assert [(u.instance_id, u.url, u.source) for u in reg.upstreams()] == [
        ("10.0.0.1:8480", "http://10.0.0.1:8480", "static"), ("gw-2", "http://10.0.0.9:8480", "mdns")]
    assert [i.base_rtt_ms for i in reg.infos()] == [2.0, None]
    assert reg.remove_mdns("gw-2")
    assert not reg.remove_mdns("gw-2")
    assert len(reg) == 1


def test_a_static_instance_wins_a_clash_of_id_or_url():
    reg = InstanceRegistry([StaticInstance("http://10.0.0.1:8480", id="gw-1")])
    assert not reg.upsert_mdns("gw-1", "http://10.0.0.5:8480")
    assert not reg.upsert_mdns("other", "http://10.0.0.1:8480")
    assert [u.instance_id for u in reg.upstreams()] == ["gw-1"]


@pytest.mark.parametrize(("spec", "ident", "url"), [
    ("http://127.0.0.1:9000", "127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("fast=http://127.0.0.1:9000/", "fast", "http://127.0.0.1:9000"),
    ("http://[::1]:9000", "[::1]:9000", "http://[::1]:9000"),
    ("https://gpu.local", "gpu.local:443", "https://gpu.local"),
])
def test_instance_specs(spec, ident, url):
    inst = StaticInstance.parse(spec)
    assert (inst.instance_id, inst.base_url) == (ident, url)


@pytest.mark.parametrize("spec", ["ftp://x:1", "http://x:1/v1", "http://x:99999", "x:1", "bad id=http://x:1",
                                  "http://x:1?q=1"])
def test_bad_instance_specs_are_typed_errors(spec):
    with pytest.raises(InvalidRouterConfig):
        StaticInstance.parse(spec)


def test_duplicate_instance_ids_and_bad_http_values_are_rejected():
    with pytest.raises(InvalidRouterConfig, match="duplicate"):
        RouterConfig(instances=(StaticInstance("http://a:1"), StaticInstance("http://a:1/")))
    with pytest.raises(InvalidRouterConfig, match="timeout-ms"):
        HttpConfig(timeout_ms=float("inf"))


def test_router_file_loads_the_hop_sections_and_round_trips(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[serve]\nport = 1\n[router]\npolicy = "round-robin"\nseed = 3\n[router.http]\nport = 0\n'
                    'timeout-ms = 250\n[router.mdns]\nenabled = false\n[[router.instances]]\n'
                    'url = "http://127.0.0.1:8481"\nid = "a"\nrtt-ms = 1.5\n', encoding="utf-8")
    cfg = load_router_file(path)
    assert (cfg.policy, cfg.seed, cfg.http.port, cfg.http.timeout_ms, cfg.mdns.enabled) == \
        ("round-robin", 3, 0, 250.0, False)
    assert cfg.instances == (StaticInstance("http://127.0.0.1:8481", id="a", rtt_ms=1.5),)
    assert load_router_config(dump_dataclass(cfg)) == cfg


def test_router_file_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[router]\n[[router.instances]]\nurl = "http://x:1/path"\n[router.http]\nbogus = 1\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_router_file(path)
    message = str(err.value)
    assert "router/instances[0]: instance url" in message
    assert f"{path}:5 router/http/bogus: unknown key" in message
