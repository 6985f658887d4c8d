"""Every benchmark script runs end to end with ``--quick`` and writes the JSON keys the README documents.

Benchmarks are not tests: nothing here looks at a timing or a target's verdict, only at the shape of
the output. Each script runs in its own interpreter (as a user runs it), into a temporary ``--out``
and ``--cache``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
COMMON_KEYS = {"benchmark", "quick", "machine", "params", "targets"}
MACHINE_KEYS = {"cpu", "cores", "load_start", "load_end", "python", "packages", "started"}
TARGET_KEYS = {"name", "value", "op", "limit", "unit", "met"}


def run_quick(name: str, tmp_path: Path, *extra: str, timeout: float = 280) -> dict:
    out = tmp_path / "out"
    cmd = [sys.executable, str(BENCH / f"{name}.py"), "--quick", "--out", str(out), "--cache",
           str(tmp_path / "cache"), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / f"{name}.json").read_text())
    assert doc.keys() >= COMMON_KEYS
    assert doc["benchmark"] == name and doc["quick"] is True
    assert doc["machine"].keys() >= MACHINE_KEYS
    for target in doc["targets"]:
        assert target.keys() >= TARGET_KEYS
    return doc


def test_pipeline_quick(tmp_path):
    doc = run_quick("pipeline", tmp_path)
    (variant, result), = doc["results"].items()
    assert variant == doc["params"]["selected_variant"]
    steady = result["steady"]
    assert {"frames", "fps", "latency_ms", "stages_ms", "per_crop", "tracks_in_view"} <= steady.keys()
    assert {"p50", "p95", "p99"} <= steady["latency_ms"].keys()
    assert {"decode", "motion", "tracking", "crop_preprocess", "inference"} <= steady["stages_ms"].keys()
    assert {"preprocess_ms", "inference_ms", "preprocess_over_inference"} <= steady["per_crop"].keys()
    assert {"fps", "latency_ms", "counts"} <= result["whole"].keys()
    assert {"fps", "latency_ms", "stages_ms"} <= doc["cli"].keys()


@pytest.mark.slow
def test_serving_quick(tmp_path):
    doc = run_quick("serving", tmp_path, "--archs", "edge")
    engines = doc["results"]["edge"]["engines"]
    assert "onnx-fp32" in engines
    for row in engines.values():
        assert {"provider", "latency_ms", "accuracy", "speedup_vs_torch"} <= row.keys()
        assert {"p50", "p99"} <= row["latency_ms"].keys()


@pytest.mark.slow
def test_counting_quick(tmp_path):
    doc = run_quick("counting", tmp_path)
    assert set(doc["results"]) == {"day", "dusk", "night", "rain"}
    for cond in doc["results"].values():
        assert {"per_class", "total_count_accuracy", "accuracy_matched", "agreement_totals", "per_video"} <= cond.keys()
    assert {"cameras_used", "seeds_used", "seeds_overlap_training"} <= doc["params"].keys()


@pytest.mark.slow
def test_streams_quick(tmp_path):
    doc = run_quick("streams", tmp_path)
    assert isinstance(doc["max_streams_at_target"], int)
    assert doc["sweep"]
    assert {"streams", "fps", "min_fps", "mean_fps", "dropped_per_s", "cpu_cores_used"} <= doc["sweep"][0].keys()


@pytest.mark.slow
def test_memory_quick(tmp_path):
    doc = run_quick("memory", tmp_path, timeout=900)
    assert {"rss_mb", "torch_importable", "packages", "command"} <= doc["result"].keys()
    assert {"at_ready", "peak", "steady"} <= doc["result"]["rss_mb"].keys()
    assert {"at_ready", "peak", "steady"} <= doc["file_source"]["rss_mb"].keys()


QOS_KEYS = {"satisfied_frac", "p50_ms", "p95_ms", "p99_ms", "misses", "per_instance", "recovery_s"}


@pytest.mark.slow
def test_qos_routing_quick(tmp_path):
    doc = run_quick("qos_routing", tmp_path, timeout=600)
    out = tmp_path / "out"
    qos = json.loads((out / "qos.json").read_text())
    assert set(qos) == set(doc["params"]["policies"]) >= {"qedgeproxy", "round-robin"}
    for row in qos.values():
        assert set(row) == QOS_KEYS  # the pinned contract: exactly these keys
        assert set(row["per_instance"]) == {i["id"] for i in doc["scenario"]["instances"]}
    trace = json.loads((out / "trace.json").read_text())
    assert trace["requests"] == len(trace["arrivals"]) == doc["params"]["requests"]
    assert (out / "qos.png").stat().st_size > 0
    rates = doc["overhead"]["rates"]
    assert {"direct", "router"} <= set(rates["1000"]["paths"])
    assert {"latency_ms", "added_ms", "cpu_ms_per_request"} <= rates["1000"]["paths"]["router"].keys()


@pytest.mark.slow
def test_fl_robustness_quick(tmp_path):
    doc = run_quick("fl_robustness", tmp_path)
    assert list(doc["runs"]) == doc["params"]["attacks"] == ["none", "absent", "label-flip", "sign-flip", "noise"]
    for per_rule in doc["runs"].values():
        assert list(per_rule) == doc["params"]["rules"]
        for run in per_rule.values():
            assert len(run["accuracy"]) == len(run["balanced"]) == doc["params"]["rounds"] + 1
            assert {"final", "accuracy_last_mean", "balanced_last_mean"} <= run.keys()
            assert {"round", "accuracy", "balanced_accuracy", "clip_bound", "clipped", "not_selected",
                    "malicious_used"} <= run["rounds"][0].keys()
    assert {"attack", "rule", "final", "balanced_last_mean", "drop_vs_rule_no_attack", "drop_vs_fedavg_no_attack"} <= \
        doc["summary"][0].keys()
    assert (tmp_path / "out" / "fl_robustness.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_hfl_quick(tmp_path):
    pytest.importorskip("flwr")
    doc = run_quick("hfl", tmp_path, timeout=540)
    assert set(doc["results"]) == {"flat", "hfl-2"}
    for result in doc["results"].values():
        assert {"final_accuracy", "probe_accuracy", "wan_bytes", "edge_bytes", "wall_s", "per_round",
                "camera_rss_peak_mb"} <= result.keys()
        assert result["wan_bytes"] > 0 and len(result["camera_rss_peak_mb"]) == 4
        assert {"round", "accuracy", "wan_bytes", "edge_bytes", "round_s"} <= result["per_round"][0].keys()
    assert doc["results"]["flat"]["edge_bytes"] == 0 < doc["results"]["hfl-2"]["edge_bytes"]
