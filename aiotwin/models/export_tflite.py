"""TFLite variants: ``tflite-int8`` (full-integer, litert-torch PT2E) and ``tflite-edgetpu``.

Follows the measured recipe (docs: shared reference ``tflite-export.md``): symmetric per-channel
PT2E quantisation calibrated on representative crops, ``to_channel_last_io`` so the model takes
NHWC input without a TRANSPOSE op, int8 input and output (scale/zero point are read from the
interpreter at run time, never hard-coded). ``tflite-edgetpu`` runs ``edgetpu_compiler`` on the
int8 file and is skipped, with the reason, when the compiler is not on ``PATH``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.bundle import InputSpec
from aiotwin.models.errors import ModelBuildError
from aiotwin.models.preprocess import normalize

log = logging.getLogger("aiotwin.models.export")
EDGETPU_COMPILER = "edgetpu_compiler"
EDGETPU_TIMEOUT_S = 300


def _calibrate(gm: Any, calib: Any) -> None:
    import torch

    with torch.no_grad():
        for i in range(len(calib)):
            gm(calib[i:i + 1])


def _no_tqdm_monitor() -> None:
    """litert-torch's progress bars would start tqdm's monitor thread, which outlives the export."""
    with contextlib.suppress(ImportError):  # tqdm comes with litert-torch
        importlib.import_module("tqdm").tqdm.monitor_interval = 0


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep litert-torch's chatter off stdout (data only) and out of our INFO log.

    It prints progress on stdout and logs lowering steps through the root logger at INFO.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            for category in (UserWarning, DeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category)
            yield
    finally:
        root.setLevel(level)


def export_int8(net: Any, calibration: npt.NDArray[np.uint8], spec: InputSpec, path: Path) -> Path:
    """Full-integer TFLite of ``net`` (eval mode), NHWC int8 input, int8 logits output."""
    import litert_torch
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    _no_tqdm_monitor()
    net = net.eval()
    calib = torch.from_numpy(normalize(calibration, spec, "nchw"))
    sample = (calib[:1],)
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    with _quiet():
        gm = prepare_pt2e(torch.export.export(net, sample).module(), quantizer)
        _calibrate(gm, calib)
        gm = convert_pt2e(gm, fold_quantize=False)
        gm = litert_torch.to_channel_last_io(gm, args=[0])
        edge = litert_torch.convert(gm, (sample[0].permute(0, 2, 3, 1),),
                                    quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge.export(str(path))
    return path


def edgetpu_compiler() -> str | None:
    """Path of the Edge TPU compiler, or ``None`` when it is not installed."""
    return shutil.which(EDGETPU_COMPILER)


def export_edgetpu(int8_path: Path, path: Path) -> Path:
    """Compile ``int8_path`` for the Edge TPU into ``path``; raise ModelBuildError on failure."""
    compiler = edgetpu_compiler()
    if compiler is None:
        raise ModelBuildError(f"{EDGETPU_COMPILER} is not on PATH")
    with tempfile.TemporaryDirectory(prefix="aiotwin-etpu-") as tmp:
        proc = subprocess.run([compiler, "-s", "-o", tmp, str(int8_path)], capture_output=True, text=True,
                              timeout=EDGETPU_TIMEOUT_S, check=False)
        log.info("%s: %s", EDGETPU_COMPILER, proc.stdout.strip().splitlines()[-1:] or "")
        produced = Path(tmp) / f"{int8_path.stem}_edgetpu.tflite"
        if proc.returncode != 0 or not produced.exists():
            raise ModelBuildError(f"{EDGETPU_COMPILER} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
        shutil.move(str(produced), path)
    return path


__all__ = ["EDGETPU_COMPILER", "edgetpu_compiler", "export_edgetpu", "export_int8"]
