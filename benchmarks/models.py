"""leaky_c.torch inside PyTorch models: `python -m leaky_c.benchmarks.models`.

Issue 22, item 4: ``leaky_c.torch`` at least as fast as ``torch.nn`` inside
models.  Everything is float32, ``torch.nn.LeakyReLU(0.01)`` against
``leaky_c.torch.LeakyReLU(0.01)`` in the same network, timed interleaved (one
round of each, then the next round), at each thread count (PyTorch's and
leaky_c's both set to it).  Each figure is the best and the median over the
rounds; ratios are torch.nn's time over leaky_c's (above 1: leaky_c faster).
The load average is printed before and after.

``module``
    The module alone, forward plus backward: ``leaf = x.detach().requires_grad_(True);
    m(leaf).backward(g)`` at (256, 4096) and (16, 64, 56, 56).
``steps``
    Eager training steps (forward plus backward, gradients set to None first):
    the MLP ``Linear 1024->4096, act, Linear 4096->4096, act, Linear 4096->10`` on a
    batch of 256, and the CNN block ``Conv2d(64, 64, 3, padding=1), act`` on
    (16, 64, 56, 56).  Per step: the whole step's time, and the activation's own
    time as ``torch.profiler`` reports it (the top-level events of its forwards and
    of its backward nodes: ``aten::leaky_relu`` and ``LeakyReluBackward0`` for
    torch.nn, ``_LeakyReLU`` and ``_LeakyReLUBackward`` for leaky_c).
``compiled``
    The MLP step under ``torch.compile`` (default mode), and the layout check:
    a channels_last conv -> activation -> conv network compiled forward and
    backward, with the copies Inductor put in its code listed (none expected).

``--quick``: fewer rounds; ``--tiny``: tiny shapes (for the test suite, no timing
meaning); ``--no-compile``: skip ``compiled``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, Optional

import leaky_c
import leaky_c.torch as lt  # first: without PyTorch, its ImportError names the install

import torch  # noqa: E402  (after leaky_c.torch, which imported it)

from .machine import load_average

Step = Callable[[], Any]

#: Shapes (full size, --tiny).
MODULE_SHAPES = {False: [(256, 4096), (16, 64, 56, 56)], True: [(4, 64), (2, 4, 6, 6)]}
MLP_WIDTHS = {False: (1024, 4096, 4096, 10), True: (16, 32, 32, 10)}
MLP_BATCH = {False: 256, True: 8}
CNN_INPUT = {False: (16, 64, 56, 56), True: (2, 4, 6, 6)}
SLOPE = 0.01
#: The activation's top-level profiler events, forward and backward, per implementation.
ACTIVATION_EVENTS = {
    "torch": ("aten::leaky_relu", "autograd::engine::evaluate_function: LeakyReluBackward0"),
    "leaky_c": ("_LeakyReLU", "autograd::engine::evaluate_function: _LeakyReLUBackward"),
}
ACTIVATIONS = {"torch": torch.nn.LeakyReLU, "leaky_c": lt.LeakyReLU}


def interleaved(steps: dict[str, Step], rounds: int, reps: int) -> dict[str, list[float]]:
    """Seconds per step of each implementation, one list entry per round."""
    for step in steps.values():  # warm up (allocator, thread pools, autograd)
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(reps):
                step()
            times[name].append((time.perf_counter() - start) / reps)
    return times


def activation_times(steps: dict[str, Step], rounds: int, reps: int) -> dict[str, list[float]]:
    """Seconds per step that torch.profiler gives the activation, one entry per round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(reps):
                    step()
            names = ACTIVATION_EVENTS[name]
            total_us = sum(event.cpu_time_total for event in prof.events()
                           if event.cpu_parent is None and event.name in names)
            times[name].append(total_us * 1e-6 / reps)
    return times


def summary(times: dict[str, list[float]]) -> dict[str, Any]:
    """Best and median (microseconds) per implementation, and torch / leaky_c ratios."""
    out: dict[str, Any] = {name: {"best_us": min(t) * 1e6, "median_us": statistics.median(t) * 1e6}
                           for name, t in times.items()}
    for stat in ("best", "median"):
        out[f"ratio_{stat}"] = out["torch"][f"{stat}_us"] / out["leaky_c"][f"{stat}_us"]
    return out


def module_step(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Step:
    def step() -> None:
        leaf = x.detach().requires_grad_(True)
        module(leaf).backward(grad)
    return step


def training_step(model: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Step:
    def step() -> None:
        for parameter in model.parameters():
            parameter.grad = None
        model(x).backward(grad)
    return step


def mlp(activation: type, tiny: bool) -> torch.nn.Sequential:
    n_in, h1, h2, n_out = MLP_WIDTHS[tiny]
    return torch.nn.Sequential(torch.nn.Linear(n_in, h1), activation(SLOPE), torch.nn.Linear(h1, h2),
                               activation(SLOPE), torch.nn.Linear(h2, n_out))


def cnn(activation: type, tiny: bool) -> torch.nn.Sequential:
    channels = CNN_INPUT[tiny][1]
    return torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1), activation(SLOPE))


def models(tiny: bool) -> dict[str, tuple[dict[str, torch.nn.Module], torch.Tensor, torch.Tensor]]:
    """name -> (model per implementation, with the same weights; input; output gradient)."""
    generator = torch.Generator().manual_seed(0)
    out = {}
    for name, build, x in [
            ("mlp", mlp, torch.randn(MLP_BATCH[tiny], MLP_WIDTHS[tiny][0], generator=generator)),
            ("cnn", cnn, torch.randn(CNN_INPUT[tiny], generator=generator))]:
        torch.manual_seed(0)
        theirs = build(torch.nn.LeakyReLU, tiny)
        ours = build(lt.LeakyReLU, tiny)
        ours.load_state_dict(theirs.state_dict())
        with torch.no_grad():
            grad = torch.randn(theirs(x).shape, generator=generator)
        out[name] = ({"torch": theirs, "leaky_c": ours}, x, grad)
    return out


def measure_module(tiny: bool, rounds: int, reps: int) -> dict[str, Any]:
    results = {}
    generator = torch.Generator().manual_seed(0)
    for shape in MODULE_SHAPES[tiny]:
        x = torch.randn(shape, generator=generator)
        grad = torch.randn(shape, generator=generator)
        steps = {name: module_step(kind(SLOPE), x, grad) for name, kind in ACTIVATIONS.items()}
        results["x".join(map(str, shape))] = summary(interleaved(steps, rounds, reps))
    return results


def measure_steps(tiny: bool, rounds: int, reps: int) -> dict[str, Any]:
    results = {}
    for name, (nets, x, grad) in models(tiny).items():
        steps = {kind: training_step(net, x, grad) for kind, net in nets.items()}
        results[name] = {"step": summary(interleaved(steps, rounds, reps)),
                         "activation": summary(activation_times(steps, rounds, reps))}
    return results


def layout_copies(code: str) -> list[str]:
    """Lines of Inductor's generated code that copy or re-lay-out a tensor: a kernel of
    its own (in a network of convolutions and leaky_c's ops, only a copy needs one), a
    clone, an as_strided copy, a .contiguous()."""
    return [line.strip() for line in code.splitlines()
            if "cpp_fused" in line and "async_compile" not in line
            or ".clone(" in line or "as_strided(" in line or ".contiguous(" in line]


def channels_last_code(tiny: bool) -> str:
    """Inductor's code (forward and backward) for conv -> leaky_c -> conv in channels_last."""
    from torch._inductor.utils import run_and_get_code

    channels = 4 if tiny else 16
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1), lt.LeakyReLU(SLOPE),
                              torch.nn.Conv2d(channels, channels, 3, padding=1))
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(2, channels, 8, 8).to(memory_format=torch.channels_last).requires_grad_(True)
    compiled = torch.compile(net, fullgraph=True)

    def step() -> None:
        output = compiled(x)
        output.backward(torch.ones_like(output))  # compiles the backward too
    _, codes = run_and_get_code(step)
    return "\n".join(codes)


def measure_compiled(tiny: bool, rounds: int, reps: int) -> dict[str, Any]:
    nets, x, grad = models(tiny)["mlp"]
    steps = {kind: training_step(torch.compile(net), x, grad) for kind, net in nets.items()}
    code = channels_last_code(tiny)
    return {"mlp_step": summary(interleaved(steps, rounds, reps)),
            "channels_last_layout_copies": layout_copies(code),
            "channels_last_leaky_c_ops": code.count("torch.ops.leaky_c.")}


def run(threads: list[int], tiny: bool, quick: bool, compile: bool) -> dict[str, Any]:
    """Every measurement at each thread count: {"load_before", "load_after", "threads": {...}}."""
    results: dict[str, Any] = {"load_before": load_average(), "threads": {}}
    saved = torch.get_num_threads(), leaky_c.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            leaky_c.set_num_threads(n)
            entry: dict[str, Any] = {
                "module": measure_module(tiny, 5 if quick else 15, 3 if quick else 10),
                "steps": measure_steps(tiny, 3 if quick else 7, 2 if quick else 3)}
            if compile:
                entry["compiled"] = measure_compiled(tiny, 3 if quick else 7, 2 if quick else 3)
            results["threads"][n] = entry
    finally:
        torch.set_num_threads(saved[0])
        leaky_c.set_num_threads(saved[1])
    results["load_after"] = load_average()
    return results


def _row(label: str, s: dict[str, Any]) -> str:
    return (f"{label:34} {s['torch']['best_us']:>10.0f} {s['leaky_c']['best_us']:>10.0f} "
            f"{s['ratio_best']:>6.2f}x {s['torch']['median_us']:>10.0f} "
            f"{s['leaky_c']['median_us']:>10.0f} {s['ratio_median']:>6.2f}x")


def report(results: dict[str, Any]) -> None:
    print(f"load average before: {results['load_before']}, after: {results['load_after']}")
    print(f"{'':34} {'best us':>21} {'ratio':>7} {'median us':>21} {'ratio':>7}")
    print(f"{'threads, measurement':34} {'torch':>10} {'leaky_c':>10} {'':>7} {'torch':>10} "
          f"{'leaky_c':>10}")
    for n, entry in results["threads"].items():
        for shape, s in entry["module"].items():
            print(_row(f"{n}T module fwd+bwd {shape}", s))
        for name, step in entry["steps"].items():
            print(_row(f"{n}T {name} step, activation (prof.)", step["activation"]))
            print(_row(f"{n}T {name} step, whole", step["step"]))
        compiled = entry.get("compiled")
        if compiled is not None:
            print(_row(f"{n}T compiled mlp step", compiled["mlp_step"]))
            copies = compiled["channels_last_layout_copies"]
            print(f"{n}T channels_last compiled: {compiled['channels_last_leaky_c_ops']} leaky_c "
                  f"op calls, layout copies: {copies if copies else 'none'}")


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m leaky_c.benchmarks.models",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (smoke test only)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, leaky_c {leaky_c.__version__} "
          f"(target {leaky_c._backend.active_target()}), float32; ratio = torch.nn / leaky_c")
    results = run(args.threads, args.tiny, args.quick, not args.no_compile)
    report(results)
    return results


if __name__ == "__main__":
    main()
