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
import signal
import sys
import time
from typing import Any

from . import ml_peers, peers, suite


def main() -> int:
    # Until it may measure, Ctrl-C is the parent's to handle (it ends this process):
    # one traceback, not one per waiting process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = json.loads(sys.stdin.readline())
    threads = int(spec["threads"])
    ml_peers.PROCESS_THREADS = threads
    options = suite.options_from_dict(spec["options"])
    scaling_sizes = tuple(spec["scaling_sizes"])
    out = sys.stdout

    # (an absent peer is skipped later, with its note)
    modules = peers.preload(suite.families_at(options, threads, scaling_sizes))
    imported_at = time.time()

    def emit(kind: str, value: Any) -> None:
        if kind == "process":  # what it imported, and when, before it was let measure
            value.update(peers_imported=modules, imported_after_s=imported_at)
        out.write(suite.EVENT_PREFIX + json.dumps([kind, value]) + "\n")
        out.flush()
    emit("ready", None)
    if sys.stdin.readline().strip() != "go":
        return 0  # the parent ended without letting it measure: nothing to do
    signal.signal(signal.SIGINT, signal.default_int_handler)
    suite.run_thread_count(options, threads, float(spec["overhead"]), scaling_sizes,
                           bool(spec["semantics"]), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
