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


def test_pseudo_labels_and_drift_load(tmp_path) -> None:
    cfg = load(tmp_path, "[samples]\npseudo-label-threshold = 0.95\npseudo-labels-per-minute = 0\n"
                         '[drift]\nenabled = true\nmetric = "js"\nreference = 300\nwindow = 100\nthreshold = 0.1\n'
                         "clear-ratio = 0.4\ncooldown-s = 60\nconfidence-bins = 5\n")
    assert cfg.samples.pseudo_label_threshold == 0.95 and cfg.samples.pseudo_labels_per_minute == 0
    d = cfg.drift
    assert (d.enabled, d.metric, d.reference, d.window, d.threshold, d.clear_ratio, d.cooldown_s,
            d.confidence_bins) == (True, "js", 300, 100, 0.1, 0.4, 60, 5)
    defaults = load(tmp_path, "")
    assert defaults.drift.enabled is None and defaults.samples.pseudo_label_threshold == 0.9


@pytest.mark.parametrize(("text", "key"), [
    ("[samples]\npseudo-label-threshold = 1.5\n", "samples/pseudo-label-threshold"),
    ("[samples]\npseudo-labels-per-minute = -1\n", "samples/pseudo-labels-per-minute"),
    ("[drift]\nwindow = 0\n", "drift/window"),
    ("[drift]\nreference = 0\n", "drift/reference"),
    ("[drift]\nthreshold = 0\n", "drift/threshold"),
    ("[drift]\nclear-ratio = 1.0\n", "drift/clear-ratio"),
    ("[drift]\ncooldown-s = -1\n", "drift/cooldown-s"),
    ("[drift]\nconfidence-bins = 1\n", "drift/confidence-bins"),
    ('[drift]\nmetric = "kl"\n', "drift/metric"),
    ("[drift]\nwindows = 10\n", "drift/windows"),
])
def test_learning_mistakes_name_their_key(tmp_path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert key in str(err.value)
    assert "device.toml:" in str(err.value)  # with its file and line
