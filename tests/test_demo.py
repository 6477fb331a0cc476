"""The dead-neuron demo: its gradients, its dead-unit count, its outputs and its claim."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from leaky_c import demo
from leaky_c.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_network(negative_slope: float) -> demo.Network:
    rng = np.random.default_rng(5)
    sizes = (2, 5, 4, 3)
    weights = [rng.normal(0, 1, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    return demo.Network(weights, biases, negative_slope)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.3])
def test_backprop_matches_finite_differences(slope):
    network = tiny_network(slope)
    rng = np.random.default_rng(6)
    inputs, labels = rng.normal(0, 1, (7, 2)), rng.integers(0, 3, 7)
    _, grad_w, grad_b = network.loss_and_gradients(inputs, labels)
    step = 1e-6
    for params, grads in ((network.weights, grad_w), (network.biases, grad_b)):
        for param, grad in zip(params, grads):
            numeric = np.empty_like(param)
            for index in np.ndindex(param.shape):
                saved = param[index]
                param[index] = saved + step
                plus = network.loss_and_gradients(inputs, labels)[0]
                param[index] = saved - step
                minus = network.loss_and_gradients(inputs, labels)[0]
                param[index] = saved
                numeric[index] = (plus - minus) / (2 * step)
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_dead_units_are_counted_per_layer():
    # Inputs in [-1, 1]^2 and weights of 1: a bias of -5 kills a unit, +5 keeps it
    # alive on every sample, 0 leaves it alive on some samples only (not dead).
    weights = [np.ones((2, 4)), np.ones((4, 2)), np.ones((2, 3))]
    biases = [np.array([-5.0, 5.0, -5.0, 0.0]), np.array([5.0, -100.0]), np.zeros(3)]
    inputs = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    for slope in (0.0, 0.01):
        _, _, dead = demo.Network(weights, biases, slope).measure(inputs, np.zeros(50, int))
        assert dead == [0.5, 0.5]


def test_runs_are_deterministic_and_seeded():
    settings = demo.Settings(samples=120, hidden=(8, 8), epochs=3)
    first, second = demo.train(settings), demo.train(settings)
    other = demo.train(demo.Settings(samples=120, hidden=(8, 8), epochs=3, seed=1))
    assert [h.loss for h in first] == [h.loss for h in second]
    assert [h.dead for h in first] == [h.dead for h in second]
    assert [h.loss for h in first] != [h.loss for h in other]


def test_the_default_setting_shows_what_the_readme_says():
    relu, leaky = demo.train(demo.Settings())
    # A first-layer unit dead on the whole training set gets no gradient through
    # ReLU from any mini-batch, so it stays dead: the count can only grow.
    first_layer = [dead[0] for dead in relu.dead]
    assert first_layer == sorted(first_layer)
    # The setting kills the whole last hidden layer at the start, for both runs.
    assert relu.dead[0][-1] == leaky.dead[0][-1] == 1.0
    # ReLU cannot recover: a constant output, the loss of guessing among 3 classes.
    assert relu.dead[-1][-1] == 1.0
    assert relu.loss[-1] == pytest.approx(np.log(3), abs=0.02)
    # Leaky ReLU's small gradient revives units and the network learns.
    assert leaky.dead[-1][-1] < 0.9
    assert leaky.loss[-1] < 0.8 * relu.loss[-1]
    # Gradient flow: the dead last layer passes nothing back through ReLU, at any
    # epoch; through Leaky ReLU every hidden layer's weights get some, every epoch.
    assert len(relu.grad_norm) == len(leaky.grad_norm) == demo.Settings().epochs + 1
    assert all(norm == 0.0 for norms in relu.grad_norm for norm in norms)
    assert all(norm > 0.0 for norms in leaky.grad_norm for norm in norms)
    table = demo.summary(demo.Settings(), relu, leaky)
    shows = "\n".join(demo.findings(table))
    assert "exactly 0 at every one of the 41 measurements" in shows
    assert "Through Leaky ReLU it is never 0" in shows


def test_gradient_norms_are_those_of_the_weight_gradients():
    network = tiny_network(0.01)
    rng = np.random.default_rng(7)
    inputs, labels = rng.normal(0, 1, (9, 2)), rng.integers(0, 3, 9)
    _, grad_w, _ = network.loss_and_gradients(inputs, labels)
    norms = network.gradient_norms(inputs, labels)
    assert norms == [float(np.sqrt((g ** 2).sum())) for g in grad_w[:2]]  # hidden layers only
    # A layer dead on every sample blocks ReLU's gradient to its own and earlier weights.
    network.biases[1][:] = -100.0
    assert demo.Network(network.weights, network.biases, 0.0).gradient_norms(inputs, labels) \
        == [0.0, 0.0]
    assert min(demo.Network(network.weights, network.biases, 0.01)
               .gradient_norms(inputs, labels)) > 0


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG file"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND", f"{path.name} is truncated"
    return struct.unpack(">II", data[16:24])


def test_command_line_writes_plots_summary_and_prints_dead_units(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="needs the demo extra: pip install '.[demo]'")
    outdir = tmp_path / "out"
    assert main(["demo", "--outdir", str(outdir), "--samples", "150", "--hidden", "8,6",
                 "--epochs", "4", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "bias shifted to -0.75" in printed
    assert "dead units (layers 1-2)" in printed
    epoch_rows = [line.split() for line in printed.splitlines()
                  if line.split() and line.split()[0].isdigit()]
    assert [int(row[0]) for row in epoch_rows] == list(range(5))
    assert all(len(row) == 7 and row[2].endswith("%") for row in epoch_rows)
    gradient_lines = [line for line in printed.splitlines()
                      if line.startswith("Gradient norm reaching each hidden layer's weights")]
    assert len(gradient_lines) == 1 and "after epoch 4: ReLU " in gradient_lines[0]
    for name in ("demo_activation.png", "demo_training.png", "demo_gradients.png"):
        width, height = png_size(outdir / name)
        assert width > 300 and height > 200
    table = json.loads((outdir / "demo_summary.json").read_text())
    assert [row["activation"] for row in table["results"]] == ["ReLU", "Leaky ReLU (0.01)"]
    assert table["settings"]["hidden"] == [8, 6]
    # The printed last epoch and the summary agree.
    for row, offset in zip(table["results"], (1, 4)):
        assert f"{row['final_loss']:.4f}" == epoch_rows[-1][offset]
    assert len(table["results"][0]["grad_norm_per_epoch"]) == 5
    markdown = (outdir / "demo_summary.md").read_text()
    assert "| ReLU |" in markdown
    assert "What this run shows:" in markdown and "What it does not show:" in markdown


def test_bad_options_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--outdir", str(tmp_path), "--hidden", "8,x"])
    assert "--hidden" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--epochs"):
        main(["demo", "--outdir", str(tmp_path), "--epochs", "0"])


def test_without_matplotlib_the_demo_trains_and_says_the_plots_were_skipped(tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    table = demo.run(demo.Settings(samples=90, hidden=(6,), epochs=2), str(tmp_path))
    printed = capsys.readouterr().out
    assert printed.startswith("Plots skipped: the demo's plots need matplotlib: pip install ")
    assert "'.[demo]'" in printed  # an install hint that works from a clone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_summary.json", "demo_summary.md"]
    written = json.loads((tmp_path / "demo_summary.json").read_text())
    assert [row["final_loss"] for row in written["results"]] == \
        [row["final_loss"] for row in table["results"]]
    assert len(table["results"][1]["grad_norm_per_epoch"]) == 3
