"""Create every service's schema and the default accounts, without starting the cluster.

    python -m ops.init_db [--config FILE]      (also: python run.py init)

Safe to run again: applied migrations are skipped and the default accounts are created
only when the login database has no user at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from cluster.config import SERVICES, ClusterConfig
from cluster.settings import Settings
from ops.config_arg import add_config_argument, load_or_exit
from services.login.state import ensure_default_accounts
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


async def initialise(config: ClusterConfig) -> None:
    for service in SERVICES:
        database = Database(config.database_url(service), schema=config.database_schema(service))
        try:
            applied = await migrate(database, MIGRATIONS[service])
            print(f"{service}: {'applied migrations ' + str(applied) if applied else 'schema up to date'}")
            if service == "login":
                created = await ensure_default_accounts(database, Settings().security.bcrypt_rounds)
                print(
                    f"login: created default accounts {created} (change their passwords)"
                    if created
                    else "login: users exist; default accounts not created"
                )
        finally:
            await database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.init_db", description=__doc__.split("\n")[0])
    add_config_argument(parser)
    args = parser.parse_args(argv)
    asyncio.run(initialise(load_or_exit(args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
