"""Operate a running cluster from this host.

    python -m ops.cluster status                  the cluster as a node sees it (JSON)
    python -m ops.cluster add NODE_ID             add a node of the configuration to the Raft group,
                                                  then start it: python run.py NODE_ID
    python -m ops.cluster remove NODE_ID          remove a node from the Raft group and membership,
                                                  then stop it and delete it from the configuration
    python -m ops.cluster write-check SERVICE     commit one fenced write through the service's master

Options: --config FILE (default cluster.toml or $CS_CONFIG), --via NODE_ID (the node to ask;
default: the first one that answers). Calls carry an internal token minted with the
cluster secret from the data directory (or $CS_SECRET_CLUSTER).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from cluster.config import ClusterConfig, NodeConfig
from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from ops.config_arg import add_config_argument, load_or_exit

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_argument(parser)
    parser.add_argument("--via", help="node id to send the request to")
    parser.add_argument("command", choices=["status", "add", "remove", "write-check"])
    parser.add_argument("target", nargs="?", help="NODE_ID for add/remove, SERVICE for write-check")
    args = parser.parse_args(argv)
    config = load_or_exit(args.config)
    if args.command != "status" and not args.target:
        parser.error(f"{args.command} needs a target")
    secret = load_or_create_secret(config.data_dir, "cluster", config.secret("cluster"))
    token = InternalTokens(secret, "ops").mint()
    candidates = _candidates(config, args)
    if not candidates:
        print("error: no node to ask", file=sys.stderr)
        return 2
    for node in candidates:
        try:
            response = _send(config, node, args, token)
        except httpx.HTTPError:
            continue
        print(json.dumps(response.json(), indent=2))
        return 0 if response.is_success else 1
    print("error: no node answered: " + ", ".join(n.id for n in candidates), file=sys.stderr)
    return 1


def _candidates(config: ClusterConfig, args: argparse.Namespace) -> list[NodeConfig]:
    if args.via:
        return [config.node(args.via)]
    nodes = list(config.nodes)
    if args.command in ("add", "remove"):
        nodes = [n for n in nodes if n.id != args.target]  # never ask the node being changed
    if args.command == "write-check":
        nodes = [n for n in nodes if n.service == args.target]
    return nodes


def _send(config: ClusterConfig, node: NodeConfig, args: argparse.Namespace, token: str) -> httpx.Response:
    headers = {HEADER: token}
    with httpx.Client(base_url=node.url, headers=headers, timeout=15) as client:
        if args.command == "status":
            return client.get("/cluster/status")
        if args.command == "add":
            new = config.node(args.target)
            return client.post("/cluster/members", json={"node_id": new.id, "raft": str(new.raft)})
        if args.command == "remove":
            return client.delete(f"/cluster/members/{args.target}")
        return client.post("/cluster/write-check")


if __name__ == "__main__":
    sys.exit(main())
