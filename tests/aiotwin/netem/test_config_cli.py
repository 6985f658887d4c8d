"""The links file and ``aiotwin netem run`` (a real subprocess, SIGTERM shutdown)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import pytest

from aiotwin._exceptions import ConfigError
from aiotwin.exitcodes import ExitCode
from aiotwin.netem import LinkConfig, load_netem_config, parse_address
from tests.aiotwin.netem.peers import close, round_trip, run, tcp_echo

CLI = "from aiotwin.cli import main; main()"
GOOD = """\
seed = 3

[[links]]
name = "gw-cloud"
protocol = "tcp"
listen = "127.0.0.1:0"
target = "{target}"
distribution = "normal"
delay-ms = 5
sd-ms = 1
[links.downstream]
rate-bytes-s = 1_000_000

[[links]]
name = "cam-gw"
protocol = "udp"
listen = "127.0.0.1:0"
target = "127.0.0.1:9"
loss = 0.1
"""


def test_links_file_loads_into_shapes(tmp_path):
    path = tmp_path / "links.toml"
    path.write_text(GOOD.format(target="127.0.0.1:8000"))
    cfg = load_netem_config(path)
    first, second = cfg.links
    assert isinstance(first, LinkConfig)
    assert first.target_address == ("127.0.0.1", 8000)
    shape = first.shape()
    assert shape.upstream.distribution == "normal" and shape.upstream.delay_ms == 5
    assert shape.downstream.rate_bytes_s == 1_000_000 and shape.upstream.rate_bytes_s == 0
    assert second.protocol == "udp" and second.shape().downstream.loss == 0.1


@pytest.mark.parametrize(
    ("snippet", "key", "line", "message"),
    [
        ('lag-ms = 5\n', "links[0]/lag-ms", 6, "unknown key"),
        ('delay-ms = "5"\n', "links[0]/delay-ms", 6, "expected float"),
        ('[links.upstream]\nloss = 2\n', "links[0]", 1, "upstream.loss: must be in [0, 1]"),
        ('[links.upstream]\nlosss = 0.2\n', "links[0]/upstream/losss", 7, "unknown key"),
    ],
)
def test_links_file_errors_name_file_line_and_key(tmp_path, snippet, key, line, message):
    path = tmp_path / "links.toml"
    path.write_text('[[links]]\nname = "a"\nprotocol = "tcp"\nlisten = "127.0.0.1:0"\ntarget = "127.0.0.1:1"\n'
                    + snippet)
    with pytest.raises(ConfigError) as info:
        load_netem_config(path)
    problem = info.value.problems[0]
    assert problem.file == str(path)
    assert problem.key == key
    assert problem.line == line
    assert message in problem.message


@pytest.mark.parametrize("text", ["localhost", ":80", "host:http", "h:70000"])
def test_bad_addresses_are_rejected(text):
    with pytest.raises(ValueError, match="host:port"):
        parse_address(text)
    assert parse_address("[::1]:80") == ("::1", 80)


def test_cli_runs_links_until_sigterm(tmp_path):
    async def body() -> None:
        async with tcp_echo() as target:
            path = tmp_path / "links.toml"
            path.write_text(GOOD.format(target=f"{target[0]}:{target[1]}"))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CLI, "netem", "run", "--config", str(path), "--control", "127.0.0.1:0",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            try:
                ready = json.loads(await proc.stdout.readline())
                host, port = parse_address(ready["links"]["gw-cloud"])
                assert ready["control"].startswith("http://127.0.0.1:")
                reader, writer = await asyncio.open_connection(host, port)
                assert await round_trip(reader, writer) >= 0.005
                await close(writer)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == ExitCode.SUCCESS
                log = (await proc.stderr.read()).decode()
                assert "netem ready" in log and "netem stopped" in log
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    run(body())


def test_cli_bad_config_exits_with_config_invalid(tmp_path):
    async def body() -> None:
        path = tmp_path / "links.toml"
        path.write_text("[[links]]\nname = 1\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "netem", "run", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        assert proc.returncode == ExitCode.CONFIG_INVALID
        assert f"{path}:2 links[0]/name" in err.decode()

    run(body())


def test_all_matches_public_names():
    import aiotwin.netem as pkg

    public = {n for n in vars(pkg) if not n.startswith("_") and not isinstance(getattr(pkg, n), type(sys))}
    public -= {"annotations"}
    assert set(pkg.__all__) == public
