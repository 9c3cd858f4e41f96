"""python -m ops.bench {catalogue,console,failover,import,ledger,login,rush} [options]  (see --help of each)"""

from __future__ import annotations

import sys

from ops.bench import catalogue, console, failover, imports, ledger, login, rush

BENCHMARKS = {
    "catalogue": catalogue.main,
    "console": console.main,
    "failover": failover.main,
    "import": imports.main,
    "ledger": ledger.main,
    "login": login.main,
    "rush": rush.main,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m ops.bench {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    return BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
