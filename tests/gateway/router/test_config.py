"""Router config: defaults with sources, TOML loading through the typed loader, validation, classes."""

from __future__ import annotations

import pytest

from aiotwin import ConfigError
from aiotwin.config import dump_dataclass, parse_toml
from gateway import InvalidRouterConfig
from gateway.router.config import (
    ClientClassConfig,
    ExplorationConfig,
    KdeConfig,
    OutlierConfig,
    QosConfig,
    RetryConfig,
    RouterConfig,
    WindowConfig,
    load_router_config,
)

EXAMPLE = """
policy = "qedgeproxy"
[qos]
tau-ms = 100
rho = 0.9
[qos.window]
max-samples = 20
max-age-s = 10.0
[kde]
bandwidth = "scott"
min-samples = 3
[exploration]
eps-min = 0.01
decay = 0.9
[classes.drones]
clients = ["drone-*", "uav-7"]
tau-ms = 40.0
[classes.drones.window]
max-samples = 10
"""


def load(text: str) -> RouterConfig:
    return load_router_config(parse_toml(text, file="gw.toml"), file="gw.toml", text=text)


def test_defaults():
    cfg = RouterConfig()
    assert (cfg.qos.tau_ms, cfg.qos.rho) == (80.0, 0.95)
    assert (cfg.qos.window.max_samples, cfg.qos.window.max_age_s) == (50, 30.0)
    assert cfg.kde.bandwidth == "silverman"
    assert cfg.retry.budget_ratio == 0.2
    assert cfg.policy == "qedgeproxy"


def test_load_example_with_kebab_keys_and_class_overrides():
    cfg = load(EXAMPLE)
    assert cfg.qos == QosConfig(100.0, 0.9, WindowConfig(20, 10.0))
    assert cfg.kde == KdeConfig(bandwidth="scott", min_samples=3)
    assert cfg.exploration.eps_min == 0.01 and cfg.exploration.decay == 0.9
    drones = cfg.qos_for("drone-12")
    assert (drones.tau_ms, drones.rho, drones.window.max_samples, drones.window.max_age_s) == (40.0, 0.9, 10, 30.0)
    assert cfg.qos_for("uav-7").tau_ms == 40.0
    assert cfg.qos_for("cam-1") == cfg.qos


def test_dump_round_trips():
    cfg = load(EXAMPLE)
    assert load_router_config(dump_dataclass(cfg)) == cfg


def test_every_problem_is_reported_with_its_key():
    text = 'policy = "fastest"\n[qos]\nrho = 1.5\n[kde]\nbandwidth = "wide"\nbogus = 1\n'
    with pytest.raises(ConfigError) as err:
        load(text)
    keys = {p.key for p in err.value.problems}
    assert {"policy", "kde/bandwidth", "kde/bogus"} <= keys
    message = str(err.value)
    assert "gw.toml:1 policy" in message


def test_range_errors_reach_the_loader_with_the_section():
    with pytest.raises(ConfigError, match=r"qos: rho must be in \(0, 1\]"):
        load("[qos]\nrho = 1.5\n")


@pytest.mark.parametrize(
    "build",
    [
        lambda: WindowConfig(max_samples=None, max_age_s=None),
        lambda: WindowConfig(max_samples=0),
        lambda: QosConfig(tau_ms=0.0),
        lambda: QosConfig(rho=0.0),
        lambda: KdeConfig(min_samples=0),
        lambda: KdeConfig(min_bandwidth_ms=-1.0),
        lambda: ExplorationConfig(eps_min=0.3, eps_max=0.2),
        lambda: ExplorationConfig(eps_initial=0.5),
        lambda: ExplorationConfig(decay=0.0),
        lambda: OutlierConfig(max_ejection_s=1.0),
        lambda: OutlierConfig(max_ejection_percent=150.0),
        lambda: RetryConfig(budget_ratio=1.5),
        lambda: RetryConfig(backoff_cap_s=0.001),
        lambda: RetryConfig(max_attempts=0),
    ],
)
def test_invalid_values_raise_a_typed_value_error(build):
    with pytest.raises(InvalidRouterConfig):
        build()


def test_class_matching_uses_globs_and_first_match_wins():
    cfg = RouterConfig(classes={
        "a": ClientClassConfig(clients=("cam-1*",), rho=0.99),
        "b": ClientClassConfig(clients=("cam-*",), rho=0.5),
    })
    assert cfg.qos_for("cam-12").rho == 0.99
    assert cfg.qos_for("cam-2").rho == 0.5
    assert cfg.qos_for("drone").rho == 0.95
