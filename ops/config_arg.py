"""The `--config` option every ops tool takes, loaded the way run.py loads it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cluster.config import ClusterConfig, load_config
from cluster.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CS_CONFIG", ROOT / "cluster.toml")),
        help="configuration file (default: cluster.toml, or $CS_CONFIG)",
    )


def load_or_exit(path: Path) -> ClusterConfig:
    """The configuration, or exit 2 with every problem listed."""
    try:
        return load_config(path, dotenv=ROOT / ".env")
    except ConfigError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
