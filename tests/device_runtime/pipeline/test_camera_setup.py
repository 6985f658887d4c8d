"""The camera of a one-off ``run``: from ``device.toml`` (line, lanes, thresholds) or defaults."""

from __future__ import annotations

import pytest

from aiotwin._exceptions import ConfigError
from device_runtime.pipeline.camera_setup import camera_for_run

DEVICE_TOML = """
[[cameras]]
id = "north-1"
source = "rtsp://10.0.0.5/stream1"
line = [0, 400, 1280, 400]
line-id = "stopline"
[cameras.counting]
confirm-frames = 4
[[cameras.lanes]]
id = "nb-1"
polygon = [[0, 300], [640, 300], [640, 720], [0, 720]]
[[cameras.lanes]]
id = "sb-1"
polygon = [[640, 300], [1280, 300], [1280, 720], [640, 720]]

[[cameras]]
id = "south-2"
source = "/dev/video0"
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "device.toml"
    path.write_text(DEVICE_TOML)
    return path


def test_without_a_config_the_camera_has_defaults_and_the_command_line_line():
    cam = camera_for_run("v.mp4", "cam-0", line=(0.0, 1.0, 2.0, 3.0))
    assert (cam.id, cam.source, cam.line, cam.lanes) == ("cam-0", "v.mp4", (0.0, 1.0, 2.0, 3.0), [])


@pytest.mark.parametrize(
    ("override", "line"),
    [(None, (0.0, 400.0, 1280.0, 400.0)), ((10.0, 0.0, 10.0, 720.0), (10.0, 0.0, 10.0, 720.0))],
)
def test_the_config_gives_line_lanes_and_thresholds_and_line_overrides(config, override, line):
    cam = camera_for_run("v.mp4", "north-1", config=config, line=override)
    assert cam.source == "v.mp4"  # the file being run, not the camera's stream
    assert tuple(cam.line) == line
    assert [lane.id for lane in cam.lanes] == ["nb-1", "sb-1"]
    assert (cam.line_id, cam.counting.confirm_frames) == ("stopline", 4)


def test_an_unknown_camera_is_a_config_error_naming_the_cameras(config):
    with pytest.raises(ConfigError, match=r"no camera with id 'west-9'.*'north-1', 'south-2'"):
        camera_for_run("v.mp4", "west-9", config=config)
