#!/usr/bin/env python3
"""Start the course selection backend.

python run.py                  every node of cluster.toml on this host, supervised
python run.py NODE_ID          one node, e.g. course_data-1
python run.py SERVICE          the first node of a service, e.g. course_data
python run.py --config FILE    use another configuration (also with a target)
python run.py init             create every schema and the default accounts, then exit
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from cluster.config import SERVICES, ClusterConfig, NodeConfig, load_config
from cluster.errors import ConfigError, RedisServerError
from cluster.filemodes import secure_data_dir, use_private_umask
from cluster.hosts import local_nodes
from cluster.logs import configure_logging
from cluster.peer_auth import secret_problems
from cluster.redis_server import PrivateRedis
from cluster.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent
EXIT_USAGE = 2
log = logging.getLogger("course_selection.run")


def main(argv: list[str] | None = None) -> int:
    use_private_umask()  # first: every file and directory this process (or its children) makes is private
    parser = argparse.ArgumentParser(
        prog="run.py",
        description=__doc__,
        epilog="Configuration: cluster.toml, then .env, then CS_* environment variables (see .env.example).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CS_CONFIG", ROOT / "cluster.toml")),
        help="configuration file (default: cluster.toml, or $CS_CONFIG)",
    )
    parser.add_argument(
        "target",
        nargs="?",
        metavar="NODE_ID|SERVICE",
        help="a node id or a service name (its first node), or init; omit to start every local node",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, dotenv=ROOT / ".env")
    except ConfigError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    secure_data_dir(config.data_dir)
    for problem in secret_problems(config):
        print(f"error: {args.config}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.target is None:
        return run_cluster(config, args.config)
    if args.target == "init":
        from ops.init_db import main as init_main

        return init_main(["--config", str(args.config)])
    node = resolve_target(config, args.target)
    if node is None:
        print(
            f"error: unknown node or service {args.target!r}; nodes: {', '.join(n.id for n in config.nodes)}; "
            f"services: {', '.join(s for s in SERVICES if config.nodes_of(s))}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return run_node(config, node)


def resolve_target(config: ClusterConfig, target: str) -> NodeConfig | None:
    try:
        return config.node(target)
    except KeyError:
        nodes = config.nodes_of(target)
        return nodes[0] if nodes else None


def run_cluster(config: ClusterConfig, config_path: Path) -> int:
    configure_logging(config.http.log_level, role="supervisor")
    local = local_nodes(config)
    if not local:
        hosts = sorted({n.host for n in config.nodes if n.host})
        where = f" (host {config.host!r}; the nodes name {', '.join(hosts)}: set cluster.host)" if hosts else ""
        print(f"error: no node of the configuration lives on this host{where}", file=sys.stderr)
        return EXIT_USAGE
    env = dict(os.environ)
    redis = None
    if config.redis.private:
        redis = PrivateRedis(config.redis.server_binary, config.redis.private_port, config.data_dir)
        try:
            redis.start()
        except RedisServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        env["CS_REDIS__URL"] = redis.url
        log.info("private redis-server started", extra={"port": config.redis.private_port})
    config_file = str(config_path.resolve())

    def command(node: NodeConfig) -> list[str]:
        return [sys.executable, str(ROOT / "run.py"), "--config", config_file, node.id]

    try:
        return Supervisor(local, command, env, grace_seconds=config.http.graceful_shutdown_seconds + 5).run()
    finally:
        if redis is not None:
            redis.stop()
            log.info("private redis-server stopped")


def run_node(config: ClusterConfig, node: NodeConfig) -> int:
    from services.runtime import serve_node  # the supervisor itself never loads the web stack

    redis = None
    if config.redis.private:
        redis = PrivateRedis(config.redis.server_binary, config.redis.private_port, config.data_dir)
        try:
            redis.ensure()  # reuses our private redis when it already answers
        except RedisServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        config = dataclasses.replace(config, redis=dataclasses.replace(config.redis, url=redis.url))
    try:
        return serve_node(config, node)
    finally:
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
