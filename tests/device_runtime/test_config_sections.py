"""The [offload], [samples] and [fl] sections: values that load, and every mistake reported with its key."""

from __future__ import annotations

import pytest

from aiotwin._exceptions import ConfigError
from device_runtime._validate import load_and_validate

CAMERA = '[[cameras]]\nid = "c"\nsource = "synthetic:downtown?seed=1"\n'


def load(tmp_path, text: str):
    path = tmp_path / "device.toml"
    path.write_text(text + CAMERA, encoding="utf-8")
    return load_and_validate(path)


def test_sections_load(tmp_path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    cfg = load(tmp_path, '[offload]\nrouter = "http://10.0.0.2:8470"\nthreshold = 0.5\nbudget-ms = 60\n'
                         '[samples]\nmax-samples = 10\n[fl]\nenabled = true\nsuperlink = "10.0.0.2:9092"\n'
                         'root-certificates = "ca.pem"\n')
    assert cfg.fl.root_certificates == tmp_path / "ca.pem" and not cfg.fl.insecure
    assert cfg.offload.router == "http://10.0.0.2:8470" and cfg.offload.threshold == 0.5
    assert cfg.offload.budget_ms == 60 and cfg.samples.max_samples == 10
    assert cfg.fl.enabled and cfg.fl.superlink == "10.0.0.2:9092"


def test_defaults_keep_offload_and_fl_off(tmp_path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.offload.router is None and not cfg.fl.enabled and cfg.samples.enabled is None


@pytest.mark.parametrize(("text", "key"), [
    ('[offload]\nrouter = "ftp://x:1"\n', "offload/router"),
    ('[offload]\nrouter = "http://x:1/v1"\n', "offload/router"),
    ("[offload]\nthreshold = 1.5\n", "offload/threshold"),
    ("[offload]\nbudget-ms = 0\n", "offload/budget-ms"),
    ("[offload]\nmax-inflight = 0\n", "offload/max-inflight"),
    ('[offload]\nmodel = "a/b"\n', "offload/model"),
    ("[samples]\nmax-samples = 0\n", "samples/max-samples"),
    ("[fl]\nenabled = true\n", "fl/superlink"),
    ('[fl]\nenabled = true\nsuperlink = "host"\n', "fl/superlink"),
    ('[fl]\nenabled = true\nsuperlink = "h:1"\n', "fl/root-certificates"),
    ('[fl]\nenabled = true\nsuperlink = "h:1"\nroot-certificates = "nope.pem"\n', "fl/root-certificates"),
    ('[fl]\nenabled = true\nsuperlink = "h:1"\ninsecure = true\nroot-certificates = "ca.pem"\n',
     "fl/root-certificates"),
])
def test_mistakes_name_their_key(tmp_path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert key in str(err.value)
