"""Smoke tests of ``python -m leaky_c bench``: tiny sizes through the real code path.

They check the JSON schema, that every peer's result was verified before it
was timed, and that an absent peer is reported as skipped.  No timing
thresholds: a timed test on a shared machine flakes.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import leaky_c
from leaky_c.__main__ import main
from leaky_c.benchmarks import peers

TINY = ["--min-time", "0.0005", "--repeat", "2", "--no-progress", "--no-extras"]
ROW_KEYS = {
    "dtype", "n", "case", "op", "mode", "threads", "impl", "family", "label", "role",
    "threads_used", "status", "verified", "verification", "note", "bytes_moved", "number",
    "batch", "times_s", "best_s", "median_s", "gbps", "gbps_median", "ratio", "ratio_median",
}
META_KEYS = {"date", "cpu_model", "cores", "memory_bytes", "python", "numpy", "leaky_c",
             "leaky_c_config", "peers", "options", "timer_overhead_s", "implementations"}


def bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run the CLI with tiny timings and return the JSON it wrote."""
    path = tmp_path / "bench.json"
    assert main(["bench", *TINY, "--json", str(path), *args]) == 0
    return json.loads(path.read_text())


def by_group(doc: dict[str, Any]) -> dict[tuple, dict[str, dict[str, Any]]]:
    groups: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in doc["results"]:
        key = (row["dtype"], row["n"], row["case"], row["threads"])
        assert row["impl"] not in groups[key], f"two {row['impl']} rows in group {key}"
        groups[key][row["impl"]] = row
    return groups


def test_schema_and_every_peer_verified(tmp_path: Path) -> None:
    doc = bench(tmp_path, "--sizes", "100,3001", "--dtypes", "float32", "float64", "float16",
                "--threads", "1")
    assert doc["schema"] == "leaky_c.bench/1"
    assert META_KEYS <= doc["meta"].keys()
    assert doc["meta"]["options"]["dtypes"] == ["float32", "float64", "float16"]
    groups = by_group(doc)
    assert len(groups) == 2 * 3 * len(peers.CASES)
    for key, rows in groups.items():
        assert next(iter(rows)) == "leaky_c", f"leaky_c is not first in group {key}"
        for impl, row in rows.items():
            assert set(row) == ROW_KEYS, f"{key} {impl}: keys {sorted(set(row) ^ ROW_KEYS)}"
            where = f"{key} {impl}: {row['note']}"
            assert row["status"] in ("ok", "skipped"), where
            if row["status"] == "ok":
                assert row["verified"] is True, where
                assert row["verification"] == "bitwise" or (
                    row["dtype"] == "float16" and row["family"] == "numpy"), where
                assert len(row["times_s"]) == 2 and row["best_s"] == min(row["times_s"])
                assert row["number"] >= 1 and row["gbps"] > 0 and row["ratio"] > 0
            else:
                assert row["note"].startswith("skipped: "), where
                assert row["times_s"] == [] and row["best_s"] is None
        assert rows["leaky_c"]["status"] == "ok" and rows["leaky_c"]["ratio"] == 1.0
        assert rows["bound.numpy"]["status"] == "ok"
        assert rows["bound.nt"]["status"] == ("ok" if leaky_c.backend == "cffi" else "skipped")
        assert rows["numpy.where" if key[2].endswith("alloc") else "numpy.ufuncs"]["verified"]


def test_absent_peers_are_skipped_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("numba", "numexpr"):
        monkeypatch.setitem(sys.modules, name, None)  # import now raises ImportError
    doc = bench(tmp_path, "--sizes", "100", "--threads", "1", "2",
                "--cases", "forward-out", "backward-alloc")
    assert doc["unavailable"]["numba"] == "skipped: numba not installed"
    assert doc["unavailable"]["numexpr"] == "skipped: numexpr not installed"
    assert doc["meta"]["peers"]["numba"] is None
    groups = by_group(doc)
    assert {key[3] for key in groups} == {1, 2}
    for rows in groups.values():
        for name in ("numba", "numexpr"):
            assert rows[name]["status"] == "skipped"
            assert rows[name]["note"] == f"skipped: {name} not installed"
            assert rows[name]["verified"] is False
        assert all(row["verified"] for row in rows.values() if row["status"] == "ok")
    printed = capsys.readouterr().out
    assert "numba: skipped: numba not installed" in printed
    assert "leaky_c.leaky_relu(x, a, out=out)" in printed


def test_reports_saved_run_markdown_and_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bench(tmp_path, "--sizes", "100", "--threads", "1", "--cases", "forward-alloc",
          "--peers", "numpy", "bounds")
    saved, markdown = str(tmp_path / "bench.json"), tmp_path / "bench.md"
    assert main(["bench", "--from-json", saved, "--markdown", str(markdown)]) == 0
    assert "### float32, 1 thread: forward, allocating" in markdown.read_text()
    if "matplotlib" in sys.modules or _importable("matplotlib"):
        png = tmp_path / "bench.png"
        assert main(["bench", "--from-json", saved, "--plot", str(png)]) == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    capsys.readouterr()
    assert main(["bench", "--from-json", saved, "--plot", str(tmp_path / "no.png")]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def _importable(name: str) -> bool:
    module, _ = peers.optional_module(name)
    return module is not None


@pytest.mark.parametrize("args, option", [
    (["--dtypes", "int8"], "--dtypes"),
    (["--cases", "sideways"], "--cases"),
    (["--peers", "jax"], "--peers"),
    (["--sizes", "1e-3"], "--sizes"),
    (["--threads", "0"], "--threads"),
    (["--min-time", "0"], "--min-time"),
])
def test_bad_options_name_the_option(args: list[str], option: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", *args]) == 2
    assert option in capsys.readouterr().err


def test_extras_are_verified_and_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    assert main(["bench", "--min-time", "0.0005", "--repeat", "1", "--no-progress", "--sizes",
                 "100", "--threads", "1", "--cases", "forward-out", "--peers", "bounds",
                 "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    (result,) = doc["extras"]
    titles = {row["title"] for row in result["rows"]}
    assert "float16 forward, n = 10^6" in titles
    assert all(row["verified"] is True for row in result["rows"]), result["rows"]
    assert all(row["leaky_c_us"] > 0 and row["peer_us"] > 0 for row in result["rows"])
    torch_installed = any(row["peer"] == "F.prelu" for row in result["rows"])
    assert torch_installed == (not any("PReLU" in note for note in result["notes"]))
    assert "Beyond the sweep" in capsys.readouterr().out


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--sizes", "--full", "--dtypes", "--threads", "--cases", "--peers", "--slope",
                   "--seed", "--min-time", "--repeat", "--json", "--plot", "--markdown",
                   "--from-json", "--no-progress", "--no-extras"):
        assert option in text
