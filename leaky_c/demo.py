"""The dead-neuron demonstration: one NumPy MLP trained with ReLU and with Leaky ReLU.

``python -m leaky_c demo --outdir DIR`` trains the same small multi-layer
perceptron twice, from the same initial weights and the same mini-batches,
once with slope 0 (ReLU) and once with slope 0.01 (Leaky ReLU), using
leaky_c's forward and backward kernels as the activations.  To provoke dying
units, every hidden bias starts at ``-bias_shift`` (0.75 by default), so many
units start with no positive output at all, as a poor initialisation or one
large update can leave them; the learning rate is fairly high (0.5).  Through
ReLU such a unit gets no gradient and can never recover; through Leaky ReLU it
still gets ``negative_slope`` times its gradient.

It prints, per epoch, the loss and the fraction of dead units in each hidden
layer (units with no positive output for any sample of the evaluation set,
which here is the whole training set).  It also records, per epoch and per
hidden layer, the norm of the gradient reaching that layer's weights (the
loss's gradient over the whole training set, Frobenius norm): the claim of
the article behind leaky_c ("Leaky Relu Activation Function in Deep Learning",
GeeksforGeeks, updated 3 June 2025) that Leaky ReLU "improves gradient flow",
measured.  It writes
into DIR:

- ``demo_activation.png``: ReLU and Leaky ReLU and their derivatives on [-5, 2];
- ``demo_training.png``: loss and dead-unit fraction per epoch, ReLU vs Leaky ReLU;
- ``demo_gradients.png``: the gradient norm per hidden layer per epoch (log scale);
- ``demo_summary.json`` and ``demo_summary.md``: the settings, a results table,
  and what the run shows and does not show.

Everything is deterministic for a given ``--seed``.  The plots need matplotlib
(the ``demo`` extra: ``pip install '.[demo]'`` in leaky_c's source directory); without
it the demo trains, prints and writes the summaries, and says the plots were skipped.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import leaky_c
from leaky_c import _extras

#: The slope drawn in the activation figure: 0.01 would look like ReLU at this scale.
PLOT_SLOPE = 0.1


@dataclass(frozen=True)
class Settings:
    """Everything that decides a run.  The defaults take a few seconds on 2 cores."""

    seed: int = 0
    samples: int = 900
    classes: int = 3
    hidden: tuple[int, ...] = (64, 64, 64)
    epochs: int = 40
    batch_size: int = 30
    learning_rate: float = 0.5
    bias_shift: float = 0.75
    leaky_slope: float = 0.01

    def describe(self) -> str:
        """One line stating the setting that provokes dying units."""
        return (f"{self.samples}-point {self.classes}-class 2-D spirals, hidden layers "
                f"{'x'.join(map(str, self.hidden))}, He-initialised weights with every hidden "
                f"bias shifted to -{self.bias_shift:g}, plain SGD at learning rate "
                f"{self.learning_rate:g} on mini-batches of {self.batch_size}, {self.epochs} "
                f"epochs, seed {self.seed}")


@dataclass
class History:
    """Per-epoch measurements of one run; index 0 is before training."""

    negative_slope: float
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    #: per epoch: one fraction per hidden layer
    dead: list[list[float]] = field(default_factory=list)
    #: per epoch: per hidden layer, the norm of the loss's gradient for its weights
    grad_norm: list[list[float]] = field(default_factory=list)


def spirals(samples: int, classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` noisy points on ``classes`` interleaved spiral arms, and their labels."""
    labels = np.arange(samples) % classes
    radius = rng.uniform(0.05, 1.0, samples)
    angle = 2 * np.pi * labels / classes + 4.0 * radius + rng.normal(0.0, 0.15, samples)
    points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return points, labels


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy, and the log-probabilities (computed stably)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean()), log_probs


class Network:
    """A multi-layer perceptron with Leaky ReLU hidden layers and a softmax output.

    ``weights[i]`` has shape (inputs, outputs); hidden layers use leaky_c's
    kernels with ``negative_slope`` (0 gives ReLU).
    """

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 negative_slope: float) -> None:
        self.weights = [w.copy() for w in weights]
        self.biases = [b.copy() for b in biases]
        self.negative_slope = negative_slope

    @classmethod
    def initial(cls, sizes: tuple[int, ...], bias_shift: float, rng: np.random.Generator,
                negative_slope: float) -> "Network":
        """He-initialised weights; hidden biases all ``-bias_shift``, output biases 0."""
        weights = [rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out))
                   for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        biases = [np.full(n_out, -bias_shift) for n_out in sizes[1:-1]] + [np.zeros(sizes[-1])]
        return cls(weights, biases, negative_slope)

    def pre_activations(self, inputs: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Each hidden layer's pre-activation, and the output logits."""
        hidden, activation = [], inputs
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            z = activation @ w + b
            hidden.append(z)
            activation = leaky_c.leaky_relu(z, self.negative_slope)
        return hidden, activation @ self.weights[-1] + self.biases[-1]

    def loss_and_gradients(self, inputs: np.ndarray, labels: np.ndarray
                           ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean cross-entropy, and its gradients for every weight and bias."""
        hidden, logits = self.pre_activations(inputs)
        loss, log_probs = cross_entropy(logits, labels)
        grad_z = np.exp(log_probs)
        grad_z[np.arange(len(labels)), labels] -= 1.0
        grad_z /= len(labels)
        activations = [inputs] + [leaky_c.leaky_relu(z, self.negative_slope) for z in hidden]
        grad_w: list[np.ndarray] = []
        grad_b: list[np.ndarray] = []
        for layer in range(len(self.weights) - 1, -1, -1):
            grad_w.insert(0, activations[layer].T @ grad_z)
            grad_b.insert(0, grad_z.sum(axis=0))
            if layer:
                grad_a = grad_z @ self.weights[layer].T
                grad_z = leaky_c.leaky_relu_backward(grad_a, hidden[layer - 1],
                                                     self.negative_slope)
        return loss, grad_w, grad_b

    def step(self, grad_w: list[np.ndarray], grad_b: list[np.ndarray],
             learning_rate: float) -> None:
        """One plain SGD update."""
        for param, grad in zip(self.weights + self.biases, grad_w + grad_b):
            param -= learning_rate * grad

    def measure(self, inputs: np.ndarray, labels: np.ndarray) -> tuple[float, float, list[float]]:
        """Loss, accuracy, and the fraction of dead units per hidden layer on these samples."""
        hidden, logits = self.pre_activations(inputs)
        loss = cross_entropy(logits, labels)[0]
        accuracy = float((logits.argmax(axis=1) == labels).mean())
        # Leaky ReLU's output is positive exactly where its input is, for any slope >= 0.
        dead = [float((z.max(axis=0) <= 0).mean()) for z in hidden]
        return loss, accuracy, dead

    def gradient_norms(self, inputs: np.ndarray, labels: np.ndarray) -> list[float]:
        """Per hidden layer: the norm of the loss's gradient for the weights feeding it."""
        grad_w = self.loss_and_gradients(inputs, labels)[1]
        return [float(np.linalg.norm(g)) for g in grad_w[:-1]]


def train(settings: Settings) -> tuple[History, History]:
    """Train the ReLU and the Leaky ReLU network from the same start; their histories."""
    rng = np.random.default_rng(settings.seed)
    inputs, labels = spirals(settings.samples, settings.classes, rng)
    sizes = (2, *settings.hidden, settings.classes)
    start = Network.initial(sizes, settings.bias_shift, rng, 0.0)
    batch_seed = int(rng.integers(2**63))
    histories = []
    for slope in (0.0, settings.leaky_slope):
        network = Network(start.weights, start.biases, slope)
        order_rng = np.random.default_rng(batch_seed)  # same mini-batches for both runs
        history = History(slope)
        for epoch in range(settings.epochs + 1):
            if epoch:
                order = order_rng.permutation(settings.samples)
                for first in range(0, settings.samples, settings.batch_size):
                    batch = order[first:first + settings.batch_size]
                    _, grad_w, grad_b = network.loss_and_gradients(inputs[batch], labels[batch])
                    network.step(grad_w, grad_b, settings.learning_rate)
            loss, accuracy, dead = network.measure(inputs, labels)
            history.loss.append(loss)
            history.accuracy.append(accuracy)
            history.dead.append(dead)
            history.grad_norm.append(network.gradient_norms(inputs, labels))
        histories.append(history)
    return histories[0], histories[1]


def _name(history: History) -> str:
    return "ReLU" if history.negative_slope == 0 else f"Leaky ReLU ({history.negative_slope:g})"


def _percent(fractions: list[float]) -> str:
    return " ".join(f"{100 * f:5.1f}%" for f in fractions)


def print_epochs(relu: History, leaky: History) -> None:
    """The per-epoch table: loss and dead-unit fraction per hidden layer, both runs."""
    layers = len(relu.dead[0])
    dead_header = f"dead units (layers 1-{layers})"
    width = 7 * layers - 1
    print(f"{'':5}  {'ReLU':^{10 + width}}  {'Leaky ReLU':^{10 + width}}")
    print(f"{'epoch':>5}  {'loss':>8}  {dead_header:>{width}}  {'loss':>8}  {dead_header:>{width}}")
    for epoch in range(len(relu.loss)):
        print(f"{epoch:5d}  {relu.loss[epoch]:8.4f}  {_percent(relu.dead[epoch]):>{width}}  "
              f"{leaky.loss[epoch]:8.4f}  {_percent(leaky.dead[epoch]):>{width}}")


def summary(settings: Settings, relu: History, leaky: History) -> dict[str, Any]:
    """Settings and final results, as written to demo_summary.json."""
    rows = []
    for history in (relu, leaky):
        rows.append({
            "activation": _name(history),
            "negative_slope": history.negative_slope,
            "dead_at_start": history.dead[0],
            "dead_at_end": history.dead[-1],
            "final_loss": history.loss[-1],
            "final_accuracy": history.accuracy[-1],
            "grad_norm_per_epoch": history.grad_norm,
        })
    return {"setting": settings.describe(), "settings": asdict(settings),
            "evaluation_set": "the whole training set", "results": rows}


#: What no run of this demo shows, whatever its numbers.
DOES_NOT_SHOW = (
    "That Leaky ReLU is better in general. The setting is built to kill units: with hidden "
    "biases starting at 0 or -0.25 the two train about equally well (2- and 3-hidden-layer "
    "networks tried).",
    "That it is always safer: at learning rates of 1-2 Leaky ReLU was sometimes worse, and "
    "once diverged to NaN (learning rate 1, biases at 0, 3 hidden layers) where ReLU did not.",
    "Anything beyond one small network on one toy task with plain SGD (no momentum, Adam or "
    "normalisation). Dead units and gradients are measured on the training set; no held-out "
    "accuracy is reported.",
    "That a larger gradient norm is better by itself: it says gradient reaches the layer, not "
    "that the step it gives is a good one.",
)


def _norms(values: list[float]) -> str:
    return " / ".join("0" if v == 0 else f"{v:.2g}" for v in values)


def gradient_line(relu: History, leaky: History) -> str:
    """One line: the gradient norm per hidden layer at the start and the end, both runs."""
    last = len(relu.grad_norm) - 1
    parts = [f"{_name(h)} {_norms(h.grad_norm[0])} -> {_norms(h.grad_norm[-1])}"
             for h in (relu, leaky)]
    return (f"Gradient norm reaching each hidden layer's weights (layers 1-{len(relu.dead[0])}, "
            f"whole training set), before training -> after epoch {last}: " + "; ".join(parts))


def findings(table: dict[str, Any]) -> list[str]:
    """What this run shows, stated from its own numbers."""
    relu, leaky = table["results"]
    found = []
    for row in (relu, leaky):
        dead = [f"{100 * a:.0f}% -> {100 * b:.0f}%"
                for a, b in zip(row["dead_at_start"], row["dead_at_end"])]
        found.append(f"{row['activation']}: dead units per layer {', '.join(dead)}; final loss "
                     f"{row['final_loss']:.3f}, training accuracy {100 * row['final_accuracy']:.1f}%.")
    chance = np.log(table["settings"]["classes"])
    if abs(relu["final_loss"] - chance) < 0.02 * chance:
        found.append(f"ReLU ends at the loss of guessing (ln {table['settings']['classes']} = "
                     f"{chance:.3f}): a fully dead layer passes no gradient back, so nothing "
                     "below it can learn and its dead units cannot revive.")
    zero_epochs = [i for i, norms in enumerate(relu["grad_norm_per_epoch"]) if not any(norms)]
    epochs = len(relu["grad_norm_per_epoch"])
    if len(zero_epochs) == epochs:
        found.append("Gradient flow: through ReLU the gradient reaching every hidden layer's "
                     f"weights is exactly 0 at every one of the {epochs} measurements.")
    elif zero_epochs:
        found.append(f"Gradient flow: through ReLU the gradient reaching every hidden layer's "
                     f"weights is exactly 0 at {len(zero_epochs)} of {epochs} measurements.")
    leaky_norms = np.array(leaky["grad_norm_per_epoch"])
    if (leaky_norms > 0).all():
        found.append("Through Leaky ReLU it is never 0: per layer it ranges over "
                     + ", ".join(f"{lo:.2g}-{hi:.2g}" for lo, hi in
                                 zip(leaky_norms.min(axis=0), leaky_norms.max(axis=0)))
                     + " (layers first to last), the slope's share of the gradient at first, "
                       "more as units revive.")
    return found


def markdown_table(table: dict[str, Any]) -> str:
    """The results as a Markdown table the README can quote, and what they show and do not."""
    layers = len(table["results"][0]["dead_at_end"])
    header = ("| activation | dead units at start (per layer) | dead units at end (per layer) "
              "| final loss | final training accuracy |")
    lines = [f"Setting: {table['setting']}.", "", header, "|---|---|---|---|---|"]
    for row in table["results"]:
        start = " / ".join(f"{100 * f:.0f}%" for f in row["dead_at_start"])
        end = " / ".join(f"{100 * f:.0f}%" for f in row["dead_at_end"])
        lines.append(f"| {row['activation']} | {start} | {end} | {row['final_loss']:.3f} "
                     f"| {100 * row['final_accuracy']:.1f}% |")
    lines += ["", f"Dead unit: no positive output for any of the training samples "
                  f"({layers} hidden layers, listed first to last).", "",
              "What this run shows:", ""]
    lines += [f"- {line}" for line in findings(table)]
    lines += ["", "What it does not show:", ""] + [f"- {line}" for line in DOES_NOT_SHOW]
    return "\n".join(lines) + "\n"


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"the demo's plots need matplotlib: {_extras.hint('demo')}") from exc
    return Figure


def _can_plot() -> bool:
    try:
        _figure_class()
    except ImportError as exc:
        print(f"Plots skipped: {exc}.\n")
        return False
    return True


def plot_activation(path: str, leaky_slope: float = 0.01) -> None:
    """ReLU beside Leaky ReLU on [-5, 2], each with its derivative, computed by leaky_c."""
    figure = _figure_class()(figsize=(8, 3.4), dpi=100, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    x = np.linspace(-5.0, 2.0, 701)
    for ax, slope, title in ((axes[0], 0.0, "ReLU (slope 0)"),
                             (axes[1], PLOT_SLOPE, f"Leaky ReLU (slope {PLOT_SLOPE:g})")):
        ax.plot(x, leaky_c.leaky_relu(x, slope), label="f(x)", color="tab:blue")
        ax.plot(x, leaky_c.leaky_relu_backward(np.ones_like(x), x, slope), label="f'(x)",
                color="tab:orange", linestyle="--")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.axvline(0.0, color="grey", linewidth=0.5)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.legend(loc="upper left")
    figure.suptitle(f"Activation and derivative on [-5, 2]; Leaky ReLU slope exaggerated to "
                    f"{PLOT_SLOPE:g} for visibility (the demo trains with {leaky_slope:g})",
                    fontsize=9)
    figure.savefig(path)


def plot_training(path: str, settings: Settings, relu: History, leaky: History) -> None:
    """Loss and dead-unit fraction per epoch, ReLU (solid) against Leaky ReLU (dashed)."""
    figure = _figure_class()(figsize=(9, 3.6), dpi=100, layout="constrained")
    loss_ax, dead_ax = figure.subplots(1, 2)
    epochs = np.arange(len(relu.loss))
    for history, style in ((relu, "-"), (leaky, "--")):
        loss_ax.plot(epochs, history.loss, style, label=_name(history))
        dead = np.array(history.dead)
        for layer in range(dead.shape[1]):
            dead_ax.plot(epochs, 100 * dead[:, layer], style, color=f"C{layer}",
                         label=f"{_name(history)}, layer {layer + 1}")
    loss_ax.set(title="training loss (cross-entropy)", xlabel="epoch", yscale="log")
    dead_ax.set(title="dead hidden units", xlabel="epoch", ylabel="% of layer", ylim=(-2, 102))
    loss_ax.legend(fontsize=8)
    dead_ax.legend(fontsize=7, ncol=2)
    figure.suptitle(f"Hidden biases shifted to -{settings.bias_shift:g} at init, SGD at learning "
                    f"rate {settings.learning_rate:g}, seed {settings.seed}", fontsize=9)
    figure.savefig(path)


def plot_gradients(path: str, settings: Settings, relu: History, leaky: History) -> None:
    """Gradient norm per hidden layer per epoch, log scale; exact zeros said in the legend."""
    figure = _figure_class()(figsize=(8, 4), dpi=100, layout="constrained")
    ax = figure.subplots()
    epochs = np.arange(len(relu.grad_norm))
    for history, style in ((relu, "-"), (leaky, "--")):
        norms = np.array(history.grad_norm)
        for layer in range(norms.shape[1]):
            values = norms[:, layer]
            label = f"{_name(history)}, layer {layer + 1}"
            zeros = int((values == 0).sum())
            if zeros == len(values):
                label += ": exactly 0 every epoch (not drawn)"
            elif zeros:
                label += f" (0 at {zeros} epochs: gaps)"
            ax.plot(epochs, np.where(values > 0, values, np.nan), style, color=f"C{layer}",
                    label=label, marker="." if history is leaky else None)
    ax.set(yscale="log", xlabel="epoch",
           ylabel="|| d loss / d W ||  (whole training set)",
           title="Gradient reaching each hidden layer's weights")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    figure.suptitle(f"ReLU (solid) vs Leaky ReLU {settings.leaky_slope:g} (dashed); hidden "
                    f"biases shifted to -{settings.bias_shift:g}, seed {settings.seed}",
                    fontsize=9)
    figure.savefig(path)


def run(settings: Settings, outdir: str) -> dict[str, Any]:
    """Train both networks, print the per-epoch table, write the plots and summary."""
    plots = _can_plot()  # said before training, not after
    os.makedirs(outdir, exist_ok=True)
    print(f"Dead-neuron demo. Setting that provokes dying units: {settings.describe()}.")
    print("A unit is dead when it outputs no positive value for any training sample.\n")
    relu, leaky = train(settings)
    print_epochs(relu, leaky)
    print("\n" + gradient_line(relu, leaky))
    table = summary(settings, relu, leaky)
    written = ["demo_summary.json", "demo_summary.md"]
    if plots:
        plot_activation(os.path.join(outdir, "demo_activation.png"), settings.leaky_slope)
        plot_training(os.path.join(outdir, "demo_training.png"), settings, relu, leaky)
        plot_gradients(os.path.join(outdir, "demo_gradients.png"), settings, relu, leaky)
        written = ["demo_activation.png", "demo_training.png", "demo_gradients.png"] + written
    with open(os.path.join(outdir, "demo_summary.json"), "w") as f:
        json.dump(table, f, indent=2)
        f.write("\n")
    markdown = markdown_table(table)
    with open(os.path.join(outdir, "demo_summary.md"), "w") as f:
        f.write(markdown)
    print("\n" + markdown)
    print(f"Wrote {', '.join(written)} to {outdir}")
    if not plots:
        print(f"(no plots: {_extras.hint('demo')})")
    return table


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden must be comma-separated integers, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` subcommand's options, defaulting to :class:`Settings`' values."""
    defaults = Settings()
    parser.add_argument("--outdir", required=True, help="directory for the PNGs and summary")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--samples", type=int, default=defaults.samples,
                        help="training points (default %(default)s)")
    parser.add_argument("--hidden", type=_hidden, default=",".join(map(str, defaults.hidden)),
                        help="hidden layer widths, e.g. 64,64,64 (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--bias-shift", type=float, default=defaults.bias_shift,
                        help="initial hidden biases are -BIAS_SHIFT (default %(default)s)")
    parser.add_argument("--leaky-slope", type=float, default=defaults.leaky_slope)


def main(args: argparse.Namespace) -> int:
    """Run the demo from parsed ``python -m leaky_c demo`` arguments."""
    for name in ("samples", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    settings = Settings(seed=args.seed, samples=args.samples, hidden=args.hidden,
                        epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, bias_shift=args.bias_shift,
                        leaky_slope=args.leaky_slope)
    run(settings, args.outdir)
    return 0
