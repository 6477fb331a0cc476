"""Smoke test of ``python -m leaky_c.benchmarks.models`` (issue 22 item 4): tiny shapes
through the real code path, asserting on the results' structure, never on speed."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

from leaky_c.benchmarks import models  # noqa: E402

RATIO_KEYS = {"torch", "leaky_c", "ratio_best", "ratio_median"}


def test_models_benchmark_measures_each_part_at_each_thread_count(capsys):
    results = models.main(["--tiny", "--quick", "--threads", "1", "2"])
    assert set(results) == {"load_before", "load_after", "threads"}
    assert list(results["threads"]) == [1, 2]
    for entry in results["threads"].values():
        assert list(entry["module"]) == ["4x64", "2x4x6x6"]
        summaries = list(entry["module"].values())
        for step in entry["steps"].values():
            summaries += [step["step"], step["activation"]]
        assert list(entry["steps"]) == ["mlp", "cnn"]
        compiled = entry["compiled"]
        summaries.append(compiled["mlp_step"])
        assert compiled["channels_last_layout_copies"] == []
        assert compiled["channels_last_leaky_c_ops"] >= 2  # forward and backward op
        for summary in summaries:
            assert set(summary) == RATIO_KEYS
            for kind in ("torch", "leaky_c"):  # the profiler found the activation's events
                assert 0 < summary[kind]["best_us"] <= summary[kind]["median_us"]
    out = capsys.readouterr().out
    assert "load average before" in out and "compiled mlp step" in out


def test_cold_path_tool_reports_every_stage():
    """tools/cold_path.py (RESULTS.md, "The first call after a matrix product") runs to the
    end and reports each measurement with positive times."""
    import pathlib
    import re
    import subprocess
    import sys
    import leaky_c
    tool = pathlib.Path(__file__).resolve().parent.parent / "tools" / "cold_path.py"
    if not tool.exists():
        pytest.skip("tools/ is not in this tree (installed package)")
    if leaky_c.backend != "cffi":  # it times the C kernel against PyTorch's
        out = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True)
        assert out.returncode == 2 and "needs leaky_c's C kernels" in out.stderr
        return
    out = subprocess.run([sys.executable, str(tool), "--rounds", "1"], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    for line in ("module (median us)", "stages (median us)", "tiny (median us)",
                 "apply -> forward entered", "allocated -> kernel done",
                 "leaky_c.torch.LeakyReLU"):
        assert line in out
    times = [float(t) for t in re.findall(r"(-?\d+\.\d)\b", out)]  # (load averages: 2 decimals)
    assert len(times) == 19 and all(t > 0 for t in times)
