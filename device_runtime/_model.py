"""The node's model: variant choice, loading, and the hot swap that never leaves the node without one.

Variant priority: ``AIOTWIN_VARIANT``/``AIOTWIN_BACKEND`` > config ``variant``/``backend`` >
``<data-dir>/pinned-variant`` (written by ``aiotwin-device bench --pin``) > hardware selection. A pinned
variant that cannot run here is ignored with a warning (the hardware may have changed since the
bench); an explicit env/config override that cannot run is an error.

:class:`EngineSlot` is the one engine every camera pipeline holds. :meth:`EngineSlot.swap` replaces
the engine behind it between two ``classify`` calls; the old engine is closed only once no call is
using it. Loading a bundle (verify sha256/size/manifest, open the engine) always happens *before*
the swap, so a bundle that fails verification leaves the running model untouched.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BundleError
from aiotwin.bundle import Bundle, load_bundle
from aiotwin.engines.base import Engine
from device_runtime._exceptions import NoVariantError

_LOG = logging.getLogger(__name__)

PINNED_VARIANT_FILE = "pinned-variant"


@dataclass(frozen=True)
class LoadedModel:
    bundle: Bundle
    engine: Engine

    def info(self) -> dict[str, str]:
        m = self.bundle.manifest
        return {"name": m.name, "version": str(m.version), "variant": self.engine.variant,
                "provider": self.engine.provider, "bundle": str(self.bundle.path)}


def read_pinned_variant(data_dir: Path) -> str | None:
    """The variant in ``<data-dir>/pinned-variant`` (plain id, or JSON with a ``variant`` key)."""
    try:
        text = (data_dir / PINNED_VARIANT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text).get("variant")
        except (json.JSONDecodeError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None
    return text.splitlines()[0].strip() if text else None


def choose_variant(bundle_path: Path, hw_root: Path, data_dir: Path, env: Mapping[str, str], *,
                   variant: str | None, backend: str | None, config_where: str) -> str:
    """Pick the variant to run (see the module docstring); :class:`NoVariantError` lists every reason."""
    from device_runtime import hw

    override = hw.resolve_override(env, variant, backend, config_where=config_where)
    detection = hw.detect_hardware(hw_root, runner=hw.runner_for_root(hw_root))
    runtime = hw.probe_runtimes(check_edgetpu=detection.report.has("edgetpu"))
    available = hw.bundle_variants(bundle_path).variants
    pinned = read_pinned_variant(data_dir) if override.variant is None else None
    if pinned is not None:
        pin = hw.Override(variant=pinned, backend=override.backend, variant_source=PINNED_VARIANT_FILE,
                          backend_source=override.backend_source)
        choice = hw.select_variant(detection.report, detection.profile, available, runtime, pin)
        if choice.variant is not None:
            return choice.variant
        _LOG.warning("pinned variant %r cannot run here (%s); selecting by hardware", pinned,
                     "; ".join(r.reason for r in choice.rejected if r.variant == pinned))
    choice = hw.select_variant(detection.report, detection.profile, available, runtime, override)
    return choice.require()


@dataclass(frozen=True)
class EngineParams:
    """Runtime knobs from the config (``threads``, ``[onnx]``, ``[litert]``)."""

    threads: int = 2
    providers: tuple[str, ...] = ()  # empty: the best available
    cache_dir: Path | None = None  # TensorRT engine cache
    delegate: str = "libedgetpu.so.1"


def load_model(bundle_path: Path, variant: str, params: EngineParams) -> LoadedModel:
    """Load and verify ``variant`` of the bundle at ``bundle_path`` (blocking: call from a thread)."""
    from aiotwin.engines import open_engine

    bundle = load_bundle(bundle_path)
    if variant not in bundle.manifest.variants:
        raise NoVariantError(f"bundle {bundle_path} has no variant {variant!r} "
                             f"(has: {', '.join(bundle.manifest.variants)})")
    engine = open_engine(bundle, variant, threads=params.threads, providers=list(params.providers) or None,
                         cache_dir=params.cache_dir, delegate=params.delegate, verify=True)
    return LoadedModel(bundle, engine)


def check_compatible(old: Bundle, new: Bundle) -> None:
    """A hot swap keeps the pipelines: the labels and the input spec must not change."""
    a, b = old.manifest, new.manifest
    if a.labels != b.labels or a.input != b.input:
        raise BundleError(f"bundle {new.path} changes labels or input spec; restart the node to switch")


class EngineSlot:
    """An :class:`Engine` that forwards to the current model and can be swapped under load."""

    def __init__(self, model: LoadedModel, on_latency: Callable[[float], None] | None = None) -> None:
        self._model = model
        self._on_latency = on_latency
        self._cond = threading.Condition()
        self._inflight: dict[int, int] = {}

    @property
    def model(self) -> LoadedModel:
        return self._model

    @property
    def variant(self) -> str:
        return self._model.engine.variant

    @property
    def provider(self) -> str:
        return self._model.engine.provider

    def classify(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        with self._cond:
            engine = self._model.engine
            self._inflight[id(engine)] = self._inflight.get(id(engine), 0) + 1
        t0 = time.perf_counter()
        try:
            return engine.classify(batch)
        finally:
            if self._on_latency is not None:
                self._on_latency(time.perf_counter() - t0)
            with self._cond:
                self._inflight[id(engine)] -= 1
                self._cond.notify_all()

    def swap(self, new: LoadedModel) -> LoadedModel:
        """Switch to ``new``; wait until no call uses the old engine, close it, return the old model."""
        with self._cond:
            old, self._model = self._model, new
            self._cond.wait_for(lambda: self._inflight.get(id(old.engine), 0) == 0)
            self._inflight.pop(id(old.engine), None)
        old.engine.close()
        return old

    def close(self) -> None:
        self._model.engine.close()


__all__ = ["PINNED_VARIANT_FILE", "EngineParams", "EngineSlot", "LoadedModel", "check_compatible", "choose_variant",
           "load_model", "read_pinned_variant"]
