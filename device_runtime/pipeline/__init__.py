"""The camera pipeline: motion → track → classify → count, plus health and the privacy filter.

Stages are one module each and pure where they can be (:mod:`.tracker`, :mod:`.counter`,
:mod:`.health` need no OpenCV). Importing this package does not import OpenCV or any inference
runtime: the stages that need OpenCV import it when they are built.
"""

from __future__ import annotations

from device_runtime.pipeline.counter import (
    Counts,
    EventMeta,
    LineCounter,
    TrackObservation,
    empty_counts,
    point_in_polygon,
)
from device_runtime.pipeline.crops import TrackClassifier, Vote
from device_runtime.pipeline.health import HealthMonitor, Hysteresis
from device_runtime.pipeline.motion import MotionDetector
from device_runtime.pipeline.pipeline import STAGES, CameraPipeline, FrameResult, TrackView, default_line
from device_runtime.pipeline.privacy import HaarRegionDetector, PrivacyFilter, PrivacyStats, RegionDetector
from device_runtime.pipeline.runner import FrameReader, RunResult, run_source
from device_runtime.pipeline.tracker import Track, Tracker

__all__ = [
    "STAGES", "CameraPipeline", "Counts", "EventMeta", "FrameReader", "FrameResult", "HaarRegionDetector",
    "HealthMonitor", "Hysteresis", "LineCounter", "MotionDetector", "PrivacyFilter", "PrivacyStats",
    "RegionDetector", "RunResult", "Track", "TrackClassifier", "TrackObservation", "TrackView", "Tracker",
    "Vote", "default_line", "empty_counts", "point_in_polygon", "run_source",
]
