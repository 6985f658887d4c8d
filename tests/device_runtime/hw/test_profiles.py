"""hw_profiles/*.toml: every shipped profile loads; malformed ones are rejected with file, key, reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiotwin._exceptions import ConfigError
from aiotwin.bundle import VARIANT_IDS
from device_runtime._exceptions import ProfileError
from device_runtime.hw import HardwareFacts, MatchRules, Profile, load_profile, load_profiles, match_profile
from hw_profiles import profile_paths

REQUIRED = {"jetson-nano", "jetson-xavier-nx", "jetson-orin-nano", "jetson-agx-orin", "coral-dev-board", "rpi4",
            "rpi5", "x86-64", "arm64-generic"}

GOOD = """\
name = "{name}"
description = "test board"
ram-mb = 2048
variants = ["tflite-int8", "onnx-fp32"]
service-time-ms = 5.0
fl-client = true
extras = ["infer"]

[match]
compatible = ["vendor,board"]

[threads]
inference = 2

[camera]
source = "usb"
width = 640
height = 480
fps = 30

[power-w]
idle = 1.0
busy = 3.0
"""


def write_profile(tmp_path: Path, text: str, name: str = "test-board") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace("{name}", name))
    return path


@pytest.mark.parametrize("path", profile_paths(), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path: Path):
    profile = load_profile(path)
    assert profile.name == path.stem
    assert set(profile.variants) <= set(VARIANT_IDS)
    assert "tflite-edgetpu" not in profile.variants and "onnx-fp16" not in profile.variants  # accelerators add them
    assert 0 < profile.power_w.idle <= profile.power_w.busy
    assert "infer" in profile.extras


def test_required_boards_and_generic_fallbacks_are_shipped(profiles):
    names = {p.name for p in profiles}
    assert names >= REQUIRED
    generic = {arch for p in profiles if p.fallback for arch in p.match.arch}
    assert {"x86_64", "aarch64"} <= generic


def test_board_facts_are_realistic(profile_by_name):
    nano = profile_by_name["jetson-nano"]
    assert nano.power_w.busy == 10.0 and nano.fl_client
    assert not profile_by_name["coral-dev-board"].fl_client  # 1 GB: too small to train
    assert profile_by_name["coral-dev-board"].ram_mb == 1024
    assert profile_by_name["rpi5"].service_time_ms < profile_by_name["rpi4"].service_time_ms
    assert profile_by_name["jetson-agx-orin"].threads.inference > profile_by_name["rpi4"].threads.inference


def test_a_good_profile_loads(tmp_path: Path):
    profile = load_profile(write_profile(tmp_path, GOOD))
    assert profile.variants == ("tflite-int8", "onnx-fp32")
    assert profile.camera.source == "usb"


@pytest.mark.parametrize(
    ("edit", "key", "reason"),
    [
        (lambda t: t.replace("fl-client = true", "fl-client = true\nbogus-key = 1"), "bogus-key", "unknown key"),
        (lambda t: t.replace("fps = 30", "fps = 30\nlens = \"wide\""), "camera/lens", "unknown key"),
        (lambda t: t.replace("ram-mb = 2048", 'ram-mb = "lots"'), "ram-mb", "expected an integer"),
        (lambda t: t.replace("fl-client = true", 'fl-client = "yes"'), "fl-client", "expected true or false"),
        (lambda t: t.replace('"onnx-fp32"]', '"onnx-fp64"]'), "variants[1]", "expected one of"),
        (lambda t: t.replace('source = "usb"', 'source = "hdmi"'), "camera/source", "expected one of"),
        (lambda t: t.replace("service-time-ms = 5.0\n", ""), "service-time-ms", "required key missing"),
        (lambda t: t.replace('name = "{name}"', 'name = "other"'), "name", "must equal the file name"),
        (lambda t: t.replace("idle = 1.0", "idle = 9.0"), "power-w/idle", "exceeds busy"),
        (lambda t: t.replace('compatible = ["vendor,board"]', ""), "match", "needs a compatible or model rule"),
        (lambda t: t.replace("fl-client = true", "fl-client = true\nfallback = true"), "match/arch",
         "fallback profile needs"),
        (lambda t: t.replace('"tflite-int8", "onnx-fp32"', '"onnx-fp32", "onnx-fp32"'), "variants", "twice"),
        (lambda t: t.replace("inference = 2", "inference = 0"), "threads/inference", "must be > 0"),
        (lambda t: t + '\n[[accelerators]]\nkind = "tpu"\ninterface = "usb"\nnodes = ["dev/x"]\n',
         "accelerators[0]/kind", "expected one of"),
        (lambda t: t + '\n[[accelerators]]\nkind = "cuda"\ninterface = "soc"\nnodes = []\n',
         "accelerators[0]/nodes", "at least one"),
    ],
)
def test_bad_profile_is_rejected_with_file_key_and_reason(tmp_path: Path, edit, key: str, reason: str):
    path = write_profile(tmp_path, edit(GOOD))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    assert f" {key}: " in message
    assert reason in message
    assert isinstance(info.value.__cause__, ConfigError)


def test_unknown_key_reports_its_line(tmp_path: Path):
    path = write_profile(tmp_path, GOOD.replace("fl-client = true", "fl-client = true\nbogus-key = 1"))
    with pytest.raises(ProfileError, match=rf"{path}:7 bogus-key: unknown key"):
        load_profile(path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path):
    path = write_profile(tmp_path, GOOD.replace("ram-mb = 2048", "ram-mb = = 2048"))
    with pytest.raises(ProfileError, match=rf"{path}:3"):
        load_profile(path)


def test_load_profiles_reports_every_bad_file(tmp_path: Path):
    a = write_profile(tmp_path, GOOD.replace("ram-mb = 2048", 'ram-mb = "x"'), "board-a")
    b = write_profile(tmp_path, GOOD + "extra = 1\n", "board-b")
    with pytest.raises(ProfileError) as info:
        load_profiles([a, b])
    assert str(a) in str(info.value) and str(b) in str(info.value)
    with pytest.raises(ProfileError, match="no hardware profiles"):
        load_profiles([])


def facts(**kw) -> HardwareFacts:
    base = {"arch": "aarch64", "cpu_cores": 4, "cpu_model": "Cortex-A72", "cpu_flags": (), "mem_total_mb": 4000}
    return HardwareFacts(**{**base, **kw})


def board(profiles: tuple[Profile, ...], name: str, **match: tuple[str, ...]) -> Profile:
    template = next(p for p in profiles if p.name == "rpi4")
    return replace(template, name=name, fallback=False, match=MatchRules(**match))


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"dt_compatible": ("nvidia,p3767-0005", "nvidia,tegra234")}, ("jetson-orin-nano", False)),
        ({"dt_compatible": ("nvidia,p3737-0000+p3701-0005", "nvidia,p3701-0005", "nvidia,tegra234")},
         ("jetson-agx-orin", False)),
        ({"dt_compatible": ("nvidia,tegra234",)}, ("arm64-generic", True)),  # module id unknown
        ({"dt_compatible": ("nvidia,p2888-0001", "nvidia,tegra194")}, ("jetson-xavier-nx", False)),  # AGX Xavier
        ({"dt_compatible": ("nvidia,tegra210",)}, ("jetson-nano", False)),
        ({"dt_compatible": ("raspberrypi,4-model-b",)}, ("rpi4", False)),
        ({"dt_compatible": ("raspberrypi,4-compute-module", "brcm,bcm2711")}, ("rpi4", False)),
        ({"dt_compatible": ("brcm,bcm2712",)}, ("rpi5", False)),
        ({"dt_compatible": ("fsl,imx8mq-phanbell", "fsl,imx8mq")}, ("coral-dev-board", False)),
        ({"dt_compatible": ("raspberrypi,5-model-b",), "arch": "x86_64"}, ("x86-64", True)),  # arch rule fails
        ({"dt_compatible": ("brcm,bcm2711",), "arch": "armv7l"}, ("rpi4", False)),
        ({"arch": "armv7l"}, ("armv7-generic", True)),
        ({"arch": "x86_64"}, ("x86-64", True)),
    ],
)
def test_match_profile_table(profiles, kw, expected):
    profile, fallback, _ = match_profile(facts(**kw), profiles)
    assert (profile.name, fallback) == expected


def test_more_specific_board_wins_and_ties_are_noted(profiles):
    generic = board(profiles, "a-soc", compatible=("vendor,soc",))
    specific = board(profiles, "b-board", compatible=("vendor,board-*", "vendor,soc"))
    twin = board(profiles, "c-board", compatible=("vendor,soc",))
    f = facts(dt_compatible=("vendor,board-2", "vendor,soc"))
    assert match_profile(f, [generic, specific])[0].name == "b-board"
    chosen, _, notes = match_profile(f, [twin, generic])
    assert chosen.name == "a-soc"
    assert notes == ("also matched equally: c-board",)


def test_model_and_node_rules(profiles):
    by_model = board(profiles, "m", model=("Acme Cam * Rev 2",))
    by_node = board(profiles, "n", model=("Acme*",), nodes=("dev/acme_npu*",))
    f = facts(dt_model="Acme Cam X Rev 2")
    assert match_profile(f, [by_model, by_node])[0].name == "m"
    g = replace(f, dev_nodes=frozenset({"dev/acme_npu0"}))
    assert match_profile(g, [by_model, by_node])[0].name == "n"


def test_no_profile_for_the_arch_is_a_profile_error(profiles):
    with pytest.raises(ProfileError, match="riscv64"):
        match_profile(facts(arch="riscv64"), profiles)
