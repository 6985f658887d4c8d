from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotwin._exceptions import SceneError
from aiotwin.scenes import parse_synthetic_uri


def test_parses_name_seed_and_conditions():
    spec, seed = parse_synthetic_uri("synthetic:downtown?seed=3&lighting=night&weather=rain&fps=25")
    assert (spec.name, seed, spec.lighting, spec.weather, spec.fps) == ("downtown", 3, "night", "rain", 25.0)


def test_defaults_and_size():
    spec, seed = parse_synthetic_uri("synthetic:highway")
    assert seed == 0
    assert spec.lighting == "day"
    small, _ = parse_synthetic_uri("synthetic:highway?size=640x360")
    assert (small.width, small.height) == (640, 360)


def test_path_target(tmp_path):
    from pathlib import Path

    src = Path(__file__).parents[3] / "aiotwin" / "scenes" / "cameras" / "campus.toml"
    dst = tmp_path / "cam.toml"
    dst.write_text(src.read_text())
    spec, seed = parse_synthetic_uri(f"synthetic:{dst}?seed=9")
    assert (spec.name, seed) == ("cam", 9)


@pytest.mark.parametrize(
    "uri",
    [
        "rtsp://x", "synthetic:", "synthetic:nowhere", "synthetic:downtown?color=red", "synthetic:downtown?seed=-1",
        "synthetic:downtown?seed=x", "synthetic:downtown?seed=1&seed=2", "synthetic:downtown?lighting=noon",
        "synthetic:downtown?weather=snow", "synthetic:downtown?fps=0", "synthetic:downtown?fps=nan",
        "synthetic:downtown?size=10x10", "synthetic:downtown?size=big", "synthetic:downtown?seed",
        "synthetic:/no/such/file.toml",
    ],
)
def test_bad_uris_raise_scene_error(uri):
    with pytest.raises(SceneError):
        parse_synthetic_uri(uri)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(), st.text().map(lambda s: "synthetic:" + s),
                 st.text().map(lambda s: "synthetic:downtown?" + s)))
def test_random_strings_raise_only_scene_error(text):
    try:
        parse_synthetic_uri(text)
    except SceneError:
        pass
