"""Fake hardware for the hw tests: one tree per board or combination under tests/fixtures/hw/<name>/.

``board`` is parametrised over every fixture tree; a test narrows it with
``@pytest.mark.parametrize("board", [...])`` (a direct parametrisation overrides the fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from device_runtime.hw import Profile, load_profiles

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hw"
BOARDS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(params=BOARDS)
def board(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def board_root(board: str) -> Path:
    return FIXTURES / board


@pytest.fixture(scope="session")
def profiles() -> tuple[Profile, ...]:
    return load_profiles()


@pytest.fixture(scope="session")
def profile_by_name(profiles: tuple[Profile, ...]) -> dict[str, Profile]:
    return {p.name: p for p in profiles}
