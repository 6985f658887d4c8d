"""Fixtures of the FL tests: free ports, an environment that lets Flower's processes import the test task."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from aiotwin.availability import is_available
from aiotwin.flower.samples import save_npz_samples
from aiotwin.models.data import toy_store

ROOT = Path(__file__).resolve().parents[2]
TINY = "tests.fl.tiny_task:TinyTask"
TOY_SIZE = 16

needs_flower = pytest.mark.skipif(not is_available("flower"), reason="needs flwr (the train extra)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def flower_env() -> dict[str, str]:
    """os.environ + the repo root on PYTHONPATH (Flower's ServerApp/ClientApp processes import tests.fl)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update({"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"})
    return env


def toy_npz(path: Path, n: int, seed: int) -> Path:
    save_npz_samples(path, toy_store(n, seed=seed, size=TOY_SIZE))
    return path


def flat(weights) -> np.ndarray:
    return np.concatenate([np.ravel(a).astype(np.float64) for a in weights])
