"""A real RTSP server for the camera tests, run by the *system* interpreter (``/usr/bin/python3``).

Needs the Debian packages of ``scripts/apt_test_deps.sh`` (python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-{base,good,ugly}, gstreamer1.0-rtsp); the project's venv cannot import ``gi``.

    /usr/bin/python3 tests/rtsp_server.py [--port 0] [--path /cam] [--video FILE]

Binds 127.0.0.1 (``--port 0``: any free port), prints ``READY port=N`` on stdout once listening,
serves an H.264 stream at ``rtsp://127.0.0.1:N/cam`` (``videotestsrc``, or ``--video`` decoded with
decodebin and re-encoded), and exits on SIGTERM/SIGINT. ``--port N`` binds the same port again
(reconnect tests restart the server there).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODE = ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! "
          "rtph264pay name=pay0 pt=96 config-interval=1")


def launch_line(video: str | None, width: int, height: int, fps: int) -> str:
    caps = f"video/x-raw,width={width},height={height},framerate={fps}/1"
    if video:
        src = (f"filesrc location={video} ! decodebin ! videoconvert ! videoscale ! videorate ! "
               f"{caps},format=I420")
    else:
        src = f"videotestsrc is-live=true pattern=ball ! {caps}"
    return f"( {src} ! {ENCODE.format(fps=fps)} )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--video")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.video, args.width, args.height, args.fps))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY port={server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
