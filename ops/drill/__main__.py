"""python -m ops.drill NAME [--runs N] [--short] [--database sqlite|postgres] [--seconds S] [--json FILE]

Runs a drill N times (the long version unless --short) and prints a table of runs x
outcomes: each check's count (0 is good) and the figures. Drills: partition, sigstop,
dead-host, cpu-hog, saturate. Partition and dead-host need root (network namespaces and
iptables); dead-host runs on PostgreSQL. Exits 1 if any check failed in any run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.drill import cpuhog, deadhost, kit, partition, saturate, sigstop

DRILLS: dict[str, Callable[[kit.Options], dict[str, Any]]] = {
    "partition": partition.run,
    "sigstop": sigstop.run,
    "dead-host": deadhost.run,
    "cpu-hog": cpuhog.run,
    "saturate": saturate.run,
}


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: every drill removes what it made on the way out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.drill", description=__doc__.split("\n")[2])
    parser.add_argument("name", choices=sorted(DRILLS))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="the CI version (seconds, not minutes)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite", help="the ledger's database")
    parser.add_argument("--seconds", type=float, help="length of the drill's main phase (its fault or its load)")
    parser.add_argument("--json", type=Path, help="write every run's outcome to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    options = kit.Options(short=args.short, database=args.database, seconds=args.seconds)
    results = []
    for number in range(1, args.runs + 1):
        print(f"{args.name}: run {number}/{args.runs} ...", flush=True)
        try:
            results.append(DRILLS[args.name](options))
        except Exception as exc:  # a drill that could not finish is an outcome too
            results.append(kit.outcome(args.name, {"drill_failed": 1}, {"error": repr(exc)[:300]}))
        print(kit.table(results[-1:]), flush=True)
    print(kit.table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"outcomes written to {args.json}")
    return 1 if any(v for r in results for v in r["checks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
