"""The ``[fl]`` table of ``gateway.toml``: loading, the cross-key checks, command-line overrides (table-driven)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiotwin._exceptions import ConfigError
from aiotwin.exitcodes import ExitCode
from aiotwin.flower.host import DEFAULT_SUPERLINK_PORT
from aiotwin.flower.job import DEFAULT_WAIT_NODES_S
from gateway.cli import app
from gateway.cli.start import build_fl_config
from gateway.config import (
    DEFAULT_FL_CLOUD_RUNTIME_PORT,
    DEFAULT_FL_PORT,
    DEFAULT_FL_WAIT_NODES_S,
    FlConfig,
    load_fl_file,
    validate_fl,
)
from gateway.fl import FederationConfig
from gateway.fl.cloud import DEFAULT_CLOUD_RUNTIME_PORT

TLS = ('ssl-ca-certfile = "ca.pem"\nssl-certfile = "gw.pem"\nssl-keyfile = "gw.key"\n'
       'coordinator-ca = "ca.pem"\n')
ON = 'enabled = true\ncoordinator = "10.0.0.1:9192"\n'


def _load(tmp_path: Path, body: str) -> tuple[FlConfig, Path]:
    for name in ("ca.pem", "gw.pem", "gw.key", "holdout.npz"):
        (tmp_path / name).write_text("x", encoding="utf-8")  # the loader checks only that they exist
    path = tmp_path / "gateway.toml"
    path.write_text(f"[router]\npolicy = \"qedgeproxy\"\n\n[fl]\n{body}", encoding="utf-8")
    return load_fl_file(path), path


def _problems(tmp_path: Path, body: str) -> list[tuple[str, str, int | None]]:
    try:  # the loader (keys, types) or the second pass (validate_fl) raises
        cfg, path = _load(tmp_path, body)
        validate_fl(cfg, path)
    except ConfigError as exc:
        return [(p.key, p.message, p.line) for p in exc.problems]
    pytest.fail(f"no ConfigError for {body!r}")


def test_defaults_match_the_fl_modules_they_stand_for():
    assert DEFAULT_FL_PORT == DEFAULT_SUPERLINK_PORT
    assert DEFAULT_FL_CLOUD_RUNTIME_PORT == DEFAULT_CLOUD_RUNTIME_PORT
    assert DEFAULT_FL_WAIT_NODES_S == DEFAULT_WAIT_NODES_S
    assert FlConfig().enabled is False


@pytest.mark.parametrize(("body", "expect"), [
    ("", {"enabled": False, "port": DEFAULT_FL_PORT}),
    ("port = 9300\n", {"enabled": False, "port": 9300}),  # off: only ranges are checked
    (ON + "insecure = true\n", {"enabled": True, "insecure": True, "coordinator": "10.0.0.1:9192"}),
    (ON + TLS + 'gateway-id = "gw-7"\nhost = "0.0.0.0"\nmin-nodes = 3\nwait-nodes-s = 30\n'
     'cloud-runtime-port = 9501\nholdout-npz = "holdout.npz"\nrestart-max-s = 5\n',
     {"enabled": True, "gateway_id": "gw-7", "host": "0.0.0.0", "min_nodes": 3, "wait_nodes_s": 30.0,
      "cloud_runtime_port": 9501, "restart_max_s": 5.0}),
    (ON.replace("10.0.0.1", "[fd00::1]") + "insecure = true\n", {"coordinator": "[fd00::1]:9192"}),
])
def test_good_tables_load_and_validate(tmp_path, body, expect):
    cfg, path = _load(tmp_path, body)
    validate_fl(cfg, path)
    for key, value in expect.items():
        assert getattr(cfg, key) == value, key
    if "ssl-certfile" in body:  # relative paths resolve against the config file
        assert cfg.tls_files == (tmp_path / "ca.pem", tmp_path / "gw.pem", tmp_path / "gw.key")
        assert cfg.holdout_npz == tmp_path / "holdout.npz"


@pytest.mark.parametrize(("body", "expect"), [
    ("bogus = 1\n", [("fl/bogus", "unknown key")]),
    ('port = "x"\n', [("fl/port", "expected an integer")]),
    ("enabled = true\n", [("fl/coordinator", "HOST:PORT"), ("fl/ssl-ca-certfile", "TLS needs this file"),
                          ("fl/ssl-certfile", "TLS needs"), ("fl/ssl-keyfile", "TLS needs"),
                          ("fl/coordinator-ca", "TLS needs")]),
    ('enabled = true\ncoordinator = "nohost"\ninsecure = true\n', [("fl/coordinator", "'nohost'")]),
    ('enabled = true\ncoordinator = "h:99999"\ninsecure = true\n', [("fl/coordinator", "HOST:PORT")]),
    (ON + 'insecure = true\nssl-certfile = "gw.pem"\n', [("fl/ssl-certfile", "drop this key")]),
    (ON + TLS.replace("gw.key", "missing.key"), [("fl/ssl-keyfile", "no such file")]),
    ("port = 0\ncloud-runtime-port = 70000\n", [("fl/port", "1..65535"), ("fl/cloud-runtime-port", "1..65535")]),
    ("min-nodes = 0\nwait-nodes-s = 0\nrestart-max-s = -1\n",
     [("fl/min-nodes", ">= 1"), ("fl/wait-nodes-s", "> 0"), ("fl/restart-max-s", "> 0")]),
    ('gateway-id = "bad id!"\n', [("fl/gateway-id", "must match")]),
    ('holdout-npz = "nope.npz"\n', [("fl/holdout-npz", "no such file")]),
])
def test_bad_tables_report_every_problem_with_its_key_and_line(tmp_path, body, expect):
    problems = _problems(tmp_path, body)
    assert [key for key, _, _ in problems] == [key for key, _ in expect], problems
    for (_, message, _), (_, fragment) in zip(problems, expect, strict=True):
        assert fragment in message, problems
    lines = (tmp_path / "gateway.toml").read_text().splitlines()
    for key, _, line in problems:
        assert line is not None
        leaf = key.removeprefix("fl/")
        assert lines[line - 1].startswith(leaf) or lines[line - 1] == "[fl]", (key, line)  # missing key: header


@pytest.mark.parametrize(("base", "options", "expect"), [
    (FlConfig(), {}, {"enabled": False}),
    (FlConfig(), {"coordinator": "c:1"}, {"enabled": True, "coordinator": "c:1"}),
    (FlConfig(), {"coordinator": "c:1", "enabled": False}, {"enabled": False}),
    (FlConfig(enabled=True, coordinator="a:1"), {"enabled": False}, {"enabled": False, "coordinator": "a:1"}),
    (FlConfig(enabled=True, coordinator="a:1", port=9100), {"coordinator": "b:2", "port": 9200},
     {"enabled": True, "coordinator": "b:2", "port": 9200}),
    (FlConfig(), {"insecure": True}, {"insecure": True, "enabled": False}),
    (FlConfig(insecure=True), {}, {"insecure": True}),
])
def test_options_override_the_table(base, options, expect):
    cfg = build_fl_config(base, **{"enabled": None, "coordinator": None, "port": None, "insecure": False, **options})
    for key, value in expect.items():
        assert getattr(cfg, key) == value, key


def test_command_line_problems_name_the_command_line():
    with pytest.raises(ConfigError) as err:
        validate_fl(FlConfig(enabled=True, coordinator="c:1"))
    assert all(p.file == "<command line>" and p.line is None for p in err.value.problems)


def test_the_federation_config_follows_the_table(tmp_path):
    cfg, _ = _load(tmp_path, ON + TLS + "port = 9300\nmin-nodes = 2\n")
    fed = FederationConfig.from_config(cfg, tmp_path / "data" / "fl", "node-1")
    assert (fed.gateway_id, fed.port, fed.coordinator, fed.edge.min_nodes) == ("node-1", 9300, "10.0.0.1:9192", 2)
    assert fed.tls is not None and fed.tls.cert == tmp_path / "gw.pem" and fed.coordinator_ca == tmp_path / "ca.pem"
    assert fed.work_dir == (tmp_path / "data" / "fl").resolve() and not fed.insecure
    insecure = FederationConfig.from_config(replace(cfg, insecure=True, ssl_ca_certfile=None, ssl_certfile=None,
                                                    ssl_keyfile=None, coordinator_ca=None, gateway_id="gw-9"),
                                            tmp_path, "node-1")
    assert insecure.tls is None and insecure.insecure and insecure.gateway_id == "gw-9"


@pytest.mark.parametrize(("toml", "args", "fragment"), [
    ("[fl]\nenabled = true\n", [], "fl/coordinator"),
    ("[fl]\nbogus = 1\n", [], "fl/bogus: unknown key"),
    ("", ["--fl-coordinator", "127.0.0.1:9"], "fl/ssl-ca-certfile"),
    ("", ["--fl-coordinator", "nohost", "--fl-insecure"], "fl/coordinator"),
])
def test_start_refuses_a_bad_fl_setup_before_starting_anything(tmp_path, toml, args, fragment):
    path = tmp_path / "gateway.toml"
    path.write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(app, ["start", "--no-mdns", "--no-coap", "--port", "0", "--data-dir",
                                      str(tmp_path / "d"), "--config", str(path), *args])
    assert result.exit_code == ExitCode.CONFIG_INVALID, result.output
    assert fragment in result.output
    assert not (tmp_path / "d").exists()
