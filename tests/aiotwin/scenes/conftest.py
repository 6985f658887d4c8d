"""Shared fixtures: small frames keep the scene tests fast."""

from __future__ import annotations

import pytest

from aiotwin.scenes import CameraSpec, load_camera

SMALL = (320, 180)


@pytest.fixture(scope="session")
def small_downtown() -> CameraSpec:
    return load_camera("downtown").with_overrides(size=SMALL)
