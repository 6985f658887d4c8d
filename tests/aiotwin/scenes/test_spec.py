from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import aiotwin.scenes as scenes
from aiotwin._exceptions import ConfigError, SceneError
from aiotwin.labels import CLASSES
from aiotwin.scenes import camera_names, load_camera
from aiotwin.scenes._spec import parse_camera

GOOD = """
description = "test street"
fps = 25
density = 20.0
lighting = "day"

[camera]
height-m = 12.0
pitch-deg = 25.0
yaw-deg = 20.0

[mix]
car = 0.7
pedestrian = 0.3

[[lanes]]
id = "walk"
kind = "sidewalk"
offset-m = -5.0
width-m = 2.0
direction = 1
speed-kmh = [3.5, 6.0]
classes = ["pedestrian"]

[[lanes]]
id = "east"
offset-m = -1.6
width-m = 3.2
direction = 1
speed-kmh = [30.0, 40.0]
classes = ["car"]

[[lanes]]
id = "west"
offset-m = 1.6
width-m = 3.2
direction = -1
speed-kmh = [30.0, 40.0]
classes = ["car"]
"""


def test_all_matches_public_names():
    public = {n for n in dir(scenes) if not n.startswith("_") and n != "annotations"}
    assert set(scenes.__all__) >= public - {"TYPE_CHECKING", "importlib", "Any"}
    for name in scenes.__all__:
        assert getattr(scenes, name) is not None


def test_at_least_eight_cameras_ship():
    names = camera_names()
    assert len(names) >= 8
    assert {"highway", "downtown", "residential", "industrial", "bridge", "campus", "avenue", "junction"} <= set(names)


@pytest.mark.parametrize("name", camera_names())
def test_shipped_camera_loads_with_line_in_frame(name):
    spec = load_camera(name)
    assert spec.name == name
    line = spec.counting_line
    for x, y in ((line.x1, line.y1), (line.x2, line.y2)):
        assert 0 <= x <= spec.width
        assert 0 <= y <= spec.height
    regions = spec.lane_regions()
    assert set(regions) == {lane.id for lane in spec.lanes}
    assert all(len(poly) >= 3 for poly in regions.values())


def test_class_mixes_differ_between_cameras():
    shares = {n: np.array([load_camera(n).mix.shares()[c] for c in CLASSES]) for n in camera_names()}
    names = list(shares)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(shares[a] - shares[b]).sum() > 0.2, (a, b)


def test_unknown_camera_names_known_ones():
    with pytest.raises(SceneError, match=r"unknown camera 'nowhere'.*downtown"):
        load_camera("nowhere")


def test_camera_from_path_takes_file_stem(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    assert load_camera(str(path)).name == "mine"


def test_missing_file_is_scene_error(tmp_path):
    with pytest.raises(SceneError, match="cannot read"):
        load_camera(str(tmp_path / "absent.toml"))


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda t: t.replace("density = 20.0", "densty = 20.0"), "densty"),
        (lambda t: t.replace("fps = 25", 'fps = "fast"'), "fps"),
        (lambda t: t.replace('lighting = "day"', 'lighting = "noon"'), "lighting"),
        (lambda t: t.replace('classes = ["car"]', 'classes = ["cars"]', 1), "lanes[1]"),
        (lambda t: t.replace("pitch-deg = 25.0", "pitch-deg = 95.0"), "camera"),
        (lambda t: t.replace("[mix]", "[mix]\ntruck = 1.0"), "mix/truck"),
    ],
    ids=["unknown-key", "wrong-type", "bad-literal", "bad-class", "bad-pitch", "mix-without-lane"],
)
def test_bad_spec_names_file_and_key(tmp_path, edit, key):
    path = tmp_path / "bad.toml"
    text = edit(GOOD)
    assert text != GOOD
    path.write_text(text)
    with pytest.raises(SceneError) as info:
        load_camera(str(path))
    assert str(path) in str(info.value)
    assert key in str(info.value)
    assert isinstance(info.value.__cause__, ConfigError)


def test_good_text_loads():
    spec = parse_camera(GOOD, file="t.toml", name="t")
    assert (spec.name, len(spec.lanes), spec.width) == ("t", 3, 1280)


def test_lane_out_of_view_is_rejected():
    text = GOOD.replace("offset-m = 1.6", "offset-m = 80.0")
    with pytest.raises(SceneError, match=r"lanes\[2\] \(west\)"):
        parse_camera(text, file="far.toml", name="far")


def test_with_conditions_and_overrides():
    spec = load_camera("downtown")
    night = spec.with_conditions(lighting="night", weather="rain")
    assert (night.lighting, night.weather) == ("night", "rain")
    assert spec.with_conditions().lighting == spec.lighting
    with pytest.raises(SceneError, match="lighting"):
        spec.with_conditions(lighting="noon")
    small = spec.with_overrides(fps=30, size=(640, 360))
    assert (small.width, small.height, small.fps) == (640, 360, 30.0)
    assert small.counting_line.y2 == pytest.approx(spec.counting_line.y2 / 2, abs=2)


def test_explicit_line_scales_with_size():
    spec = load_camera("downtown")
    line = dataclasses.replace(spec.line, x1=600.0, y1=0.0, x2=700.0, y2=720.0)
    spec = dataclasses.replace(spec, line=line)
    half = spec.with_overrides(size=(640, 360))
    assert half.counting_line.coords == (300.0, 0.0, 350.0, 360.0)


def test_specs_and_uris_load_without_opencv():
    import subprocess
    import sys

    code = ("import sys\nfrom aiotwin.scenes import parse_synthetic_uri\n"
            "spec, _ = parse_synthetic_uri('synthetic:downtown?seed=1')\nspec.counting_line\n"
            "import aiotwin.cli\nprint('cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_road_oriented_line_spans_the_frame():
    spec = load_camera("highway")
    road = dataclasses.replace(spec, line=dataclasses.replace(spec.line, orientation="road"))
    line = road.counting_line
    assert line.coords != spec.counting_line.coords
    assert line.x1 in (0.0, spec.width) or line.y1 in (0.0, spec.height)
