"""Where the activation's time goes right after a large matrix product (issue 22 item 4).

    python tools/cold_path.py                # 1 thread, 10 rounds
    python tools/cold_path.py --rounds 20

Inside the MLP training step of ``python -m leaky_c.benchmarks.models``
(``Linear 1024->4096, act, Linear 4096->4096, act, Linear 4096->10``, batch 256,
float32), each activation runs right after a matrix product that streamed tens
of MiB through the caches.  Three measurements, each median over the rounds,
the implementations interleaved round by round:

``module``
    ``torch.nn.LeakyReLU`` against ``leaky_c.torch.LeakyReLU``: the forward from
    the module's forward pre-hook to its forward hook, the backward from the
    hook on the module's output gradient to the one on its input gradient.
``stages``
    The forward of an ``autograd.Function`` that does what leaky_c's does
    (``torch.empty_like``, the C kernel on the data pointers,
    ``save_for_backward``), with a clock read between the stages: entering
    ``forward`` from ``apply``, the allocation, the kernel, the save, and
    returning to the module's forward hook.  ``torch.nn``'s forward is one call.
``tiny``
    The same calls on the first row of the product's output (16 KiB): no memory
    work, only the code path.  ``cold``: the first call after the product;
    ``warm``: the same call again at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable

import torch

import leaky_c
import leaky_c.torch as lt
from leaky_c import _torch_ops
from leaky_c.benchmarks.models import MLP_BATCH, MLP_WIDTHS, SLOPE, mlp, training_step

_clock = time.perf_counter


def run_steps(models: dict[str, torch.nn.Sequential], rounds: int) -> None:
    """models.py's MLP training steps: two of each model to warm up, then ``rounds``
    rounds of three, the models in turn."""
    widths = MLP_WIDTHS[False]
    x, g = torch.randn(MLP_BATCH[False], widths[0]), torch.randn(MLP_BATCH[False], widths[-1])
    steps = [training_step(model, x, g) for model in models.values()]
    for _ in range(2):  # warm up
        for step in steps:
            step()
    for _ in range(rounds):
        for step in steps:
            for _ in range(3):
                step()


def module_times(rounds: int) -> dict[str, dict[str, float]]:
    """Median microseconds per activation call, forward and backward."""
    times: dict[tuple[str, str], list[float]] = {}

    def instrument(name: str, module: torch.nn.Module) -> None:
        marks: dict[str, float] = {}

        def pre(m: Any, inputs: tuple[torch.Tensor, ...]) -> None:
            marks["forward"] = _clock()
            inputs[0].register_hook(  # type: ignore[no-untyped-call]  # (torch leaves it bare)
                lambda grad: times.setdefault((name, "backward"), []).append(
                    _clock() - marks["backward"]))

        def post(m: Any, inputs: Any, output: torch.Tensor) -> None:
            times.setdefault((name, "forward"), []).append(_clock() - marks["forward"])
            output.register_hook(  # type: ignore[no-untyped-call]
                lambda grad: marks.__setitem__("backward", _clock()))
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    models = {}
    for name, act in (("torch.nn", torch.nn.LeakyReLU), ("leaky_c", lt.LeakyReLU)):
        models[name] = model = mlp(act, False)
        instrument(name, model[1])
        instrument(name, model[3])
    run_steps(models, rounds)
    return {name: {d: statistics.median(times[name, d][4:]) * 1e6 for d in ("forward", "backward")}
            for name in models}


def stage_times(rounds: int) -> dict[str, dict[str, float]]:
    """Median microseconds between the clock reads of each forward."""
    forward = _torch_ops._C_KERNELS[torch.float32][0]
    cast = _torch_ops._cast
    flags = _torch_ops._FRESH
    marks: dict[str, float] = {}
    rows: dict[str, list[dict[str, float]]] = {"torch.nn": [], "Function": []}

    class Stages(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            marks["forward entered"] = _clock()
            out = torch.empty_like(x)
            marks["allocated"] = _clock()
            status = forward(cast("float *", x.data_ptr()), cast("float *", out.data_ptr()),
                             x.numel(), SLOPE, flags)  # as leaky_relu_new calls it
            assert status == 0, status
            marks["kernel done"] = _clock()
            ctx.save_for_backward(x)
            marks["saved"] = _clock()
            return out

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            grad_input: torch.Tensor = torch.ops.aten.leaky_relu_backward(
                grad, ctx.saved_tensors[0], SLOPE, False)
            return grad_input

    class ViaFunction(torch.nn.Module):
        def __init__(self, negative_slope: float) -> None:  # (the slope is SLOPE)
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            marks.clear()
            marks["apply"] = _clock()
            out: torch.Tensor = Stages.apply(x)  # type: ignore[no-untyped-call]
            return out

    class TorchNN(torch.nn.LeakyReLU):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            marks.clear()
            marks["apply"] = _clock()
            out = torch.nn.functional.leaky_relu(x, SLOPE)
            marks["saved"] = _clock()
            return out

    def instrument(name: str, module: torch.nn.Module) -> None:
        module.register_forward_hook(
            lambda m, i, o: rows[name].append(dict(marks, returned=_clock())))
    models = {"torch.nn": mlp(TorchNN, False), "Function": mlp(ViaFunction, False)}
    for name, model in models.items():
        instrument(name, model[1])
        instrument(name, model[3])
    run_steps(models, rounds)
    result = {}
    for name, marked in rows.items():
        keys = sorted(marked[-1], key=lambda k: marked[-1][k])
        result[name] = {f"{a} -> {b}": statistics.median(r[b] - r[a] for r in marked[4:]) * 1e6
                        for a, b in zip(keys, keys[1:])}
    return result


def tiny_times(rounds: int) -> dict[str, dict[str, float]]:
    """Median microseconds of each call on one row, first after the product and again."""
    class Empty(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return torch.empty_like(x)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return grad

    def plain(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)
    calls: dict[str, Callable[[torch.Tensor], Any]] = {
        "torch.nn.LeakyReLU": torch.nn.LeakyReLU(SLOPE),
        "leaky_c.torch.LeakyReLU": lt.LeakyReLU(SLOPE),
        "autograd.Function (empty_like only)": Empty.apply,
        "Python function (empty_like only)": plain,
    }
    linear, x = torch.nn.Linear(1024, 4096), torch.randn(256, 1024)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(2 + rounds * 6):  # the first two: warm-up
        for name, call in calls.items():
            row = linear(x)[:1]
            for state in ("cold", "warm"):
                start = _clock()
                call(row)
                times.setdefault((name, state), []).append(_clock() - start)
    return {name: {s: statistics.median(times[name, s][2:]) * 1e6 for s in ("cold", "warm")}
            for name in calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if leaky_c.backend != "cffi":
        parser.error(f"needs leaky_c's C kernels; this leaky_c runs the {leaky_c.backend} backend")
    torch.set_num_threads(1)
    leaky_c.set_num_threads(1)
    print(f"load average before: {load()}")
    for title, measure in (("module", module_times), ("stages", stage_times),
                           ("tiny", tiny_times)):
        print(f"{title} (median us)")
        for name, figures in measure(args.rounds).items():
            print(f"  {name:38s} " + "  ".join(f"{k} {v:.1f}" for k, v in figures.items()))
    print(f"load average after: {load()}")


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
