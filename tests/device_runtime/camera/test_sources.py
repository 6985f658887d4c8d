"""open_source dispatch, the OpenCV binding on files and bad inputs, and the synthetic binding."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from device_runtime._exceptions import SourceError, SourceUnsupported
from device_runtime.camera import CaptureThread, open_source, redact_uri, source_kind
from device_runtime.camera import opencv as cv_binding


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("0", "device"), ("/dev/video2", "device"), ("rtsp://10.0.0.5/stream1", "network"),
        ("RTSP://cam/x", "network"), ("https://cam/mjpg", "network"), ("rtsps://cam/x", "network"),
        ("nvarguscamerasrc ! video/x-raw(memory:NVMM) ! nvvidconv ! appsink", "gstreamer"),
        ("synthetic:downtown?seed=3", "synthetic"), ("/data/clip.mp4", "file"), ("clip.avi", "file"),
        ("file:///data/clip.mp4", "file"),
    ],
)
def test_source_kind(uri, kind):
    assert source_kind(uri) == kind


@pytest.mark.parametrize("uri", ["", "   ", "ftp://cam/stream", "foo://bar"])
def test_unknown_forms_name_the_accepted_ones(uri):
    with pytest.raises(SourceError, match="accepted forms: a V4L2 device"):
        source_kind(uri)


def test_missing_file_is_source_error(tmp_path):
    with pytest.raises(SourceError, match="is not a file; accepted forms"):
        open_source(str(tmp_path / "nope.mp4"))


def test_unreadable_file_is_source_error(tmp_path):
    pytest.importorskip("cv2")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(SourceError, match="cannot open"):
        open_source(str(bad))


def test_missing_device_is_source_error():
    pytest.importorskip("cv2")
    with pytest.raises(SourceError, match="v4l2:/dev/video97: cannot open"):
        open_source("/dev/video97")


def test_gstreamer_pipeline_unsupported_on_this_wheel():
    pytest.importorskip("cv2")
    if cv_binding.has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(SourceUnsupported, match="this OpenCV build has no GStreamer; on Jetson use JetPack's"):
        open_source("videotestsrc ! videoconvert ! appsink")


@pytest.mark.parametrize(
    ("info", "expected"),
    [("  Video I/O:\n    GStreamer:                   YES (1.22.0)\n", True),
     ("  Video I/O:\n    GStreamer:                   NO\n", False), ("  Video I/O:\n    FFMPEG: YES\n", False)],
)
def test_has_gstreamer_parses_build_information(info, expected):
    assert cv_binding.has_gstreamer(info) is expected


def test_redact_uri():
    assert redact_uri("rtsp://admin:s3cret@10.0.0.5:554/x") == "rtsp://***@10.0.0.5:554/x"
    assert redact_uri("rtsp://10.0.0.5/x") == "rtsp://10.0.0.5/x"


def test_file_source_reads_to_the_end(video):
    path, frames = video
    source = open_source(str(path))
    try:
        assert not source.is_live
        images = []
        while (img := source.read()) is not None:
            images.append(img)
        assert source.read() is None
    finally:
        source.close()
    assert len(images) == frames
    assert images[0].dtype == np.uint8 and images[0].ndim == 3


def test_file_through_capture_thread_paced(video):
    path, frames = video
    fps = 100.0
    with CaptureThread(lambda: open_source(str(path), fps=fps), queue_frames=frames) as cap:
        got = []
        while (frame := cap.get(5.0)) is not None:
            got.append(frame)
        assert cap.stats.state == "ended"
    assert [f.index for f in got] == list(range(frames))
    assert got[-1].ts_monotonic - got[0].ts_monotonic >= (frames - 1) / fps * 0.9


def test_network_source_sets_ffmpeg_options(monkeypatch):
    pytest.importorskip("cv2")
    monkeypatch.delenv(cv_binding.FFMPEG_OPTIONS_ENV, raising=False)
    monkeypatch.setattr(cv_binding, "OPEN_TIMEOUT_MS", 500)
    with pytest.raises(SourceError, match=r"rtsp://\*\*\*@127.0.0.1:9/none: cannot open"):
        open_source("rtsp://user:pw@127.0.0.1:9/none")  # port 9 (discard): refused at once
    import os

    assert os.environ[cv_binding.FFMPEG_OPTIONS_ENV].startswith("rtsp_transport;tcp")


def test_importing_camera_imports_no_cv2():
    code = "import sys, device_runtime.camera\nprint('cv2' in sys.modules, 'aiotwin.scenes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def _scenes():
    scenes = pytest.importorskip("aiotwin.scenes", reason="aiotwin.scenes is not there yet")
    if not hasattr(scenes, "parse_synthetic_uri") or not hasattr(scenes, "SceneRenderer"):
        pytest.skip("aiotwin.scenes has no parse_synthetic_uri/SceneRenderer yet")
    return scenes


def test_synthetic_source_renders_frames():
    _scenes()
    source = open_source("synthetic:downtown?seed=3", fps=0)
    try:
        assert source.is_live and source.pace_fps is None
        a, b = source.read(), source.read()
    finally:
        source.close()
    assert a is not None and b is not None
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3


def test_synthetic_source_paced_at_camera_fps_by_default():
    scenes = _scenes()
    spec, _ = scenes.parse_synthetic_uri("synthetic:downtown?seed=3")
    source = open_source("synthetic:downtown?seed=3")
    try:
        assert source.pace_fps == pytest.approx(spec.fps)
    finally:
        source.close()


def test_bad_synthetic_uri_is_source_error():
    _scenes()
    with pytest.raises(SourceError):
        open_source("synthetic:no-such-camera-anywhere?seed=1")
