"""One thread count's measurements, in a process of its own (suite.sweep starts it).

Reads the spec as one line of JSON on stdin, sets the thread count that
process-wide settings need before anything reads them (ml_peers.PROCESS_THREADS;
the parent has put XLA_FLAGS in the environment), imports the peers it will time,
says "ready" and waits for the line "go" (the parent starts every thread count's
process at once, so that their imports overlap, and lets them measure one after
the other).  Then it writes each event of suite.run_thread_count as one line of
JSON on stdout, after suite.EVENT_PREFIX.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from . import ml_peers, peers, suite


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    threads = int(spec["threads"])
    ml_peers.PROCESS_THREADS = threads
    options = suite.options_from_dict(spec["options"])
    out = sys.stdout

    def emit(kind: str, value: Any) -> None:
        out.write(suite.EVENT_PREFIX + json.dumps([kind, value]) + "\n")
        out.flush()
    for name in peers.OPTIONAL_MODULES:
        if name in options.families:
            peers.optional_module(name)  # (an absent one is skipped later, with its note)
    emit("ready", time.time())
    if sys.stdin.readline().strip() != "go":
        return 0  # the parent gave up (another process failed): nothing to measure
    suite.run_thread_count(options, threads, float(spec["overhead"]),
                           tuple(spec["scaling_sizes"]), bool(spec["semantics"]), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
