"""One thread count's measurements, in a process of its own (suite.sweep starts it).

Reads the spec as JSON on stdin, sets the thread count that process-wide
settings need before anything reads them (ml_peers.PROCESS_THREADS; the parent
has put XLA_FLAGS in the environment), and writes each event of
suite.run_thread_count as one line of JSON on stdout, after suite.EVENT_PREFIX.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from . import ml_peers, suite


def main() -> int:
    spec = json.load(sys.stdin)
    threads = int(spec["threads"])
    ml_peers.PROCESS_THREADS = threads
    out = sys.stdout

    def emit(kind: str, value: Any) -> None:
        out.write(suite.EVENT_PREFIX + json.dumps([kind, value]) + "\n")
        out.flush()
    suite.run_thread_count(suite.options_from_dict(spec["options"]), threads,
                           float(spec["overhead"]), tuple(spec["scaling_sizes"]),
                           bool(spec["semantics"]), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
