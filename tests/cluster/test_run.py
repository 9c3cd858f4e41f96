"""`run.py` with real processes on free loopback ports; every process is cleaned up."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from cluster.config import SERVICES
from tests.support import Processes, alive, cluster_toml, free_ports, listening, ready, wait_until

pytestmark = pytest.mark.cluster
START_TIMEOUT = 60


def _write_config(tmp_path: Path, **kwargs: object) -> tuple[Path, dict[str, int]]:
    text, ports = cluster_toml(tmp_path / "data", **kwargs)  # type: ignore[arg-type]
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path, ports


def test_the_whole_cluster_starts_serves_and_stops_cleanly(tmp_path: Path, processes: Processes) -> None:
    config, ports = _write_config(tmp_path)
    supervisor = processes.run_py("--config", str(config))
    for node_id, port in ports.items():
        wait_until(lambda p=port: ready(p), START_TIMEOUT, f"{node_id} ready")
    children = processes.descendants(supervisor)
    names = [" ".join(c.cmdline()) for c in children]
    assert sum("run.py" in n for n in names) == 5, names
    assert sum("redis-server" in n for n in names) == 1, names
    for node_id, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health").json()["node"] == node_id
        validate(httpx.get(f"{base}/openapi.json").json())
        assert "swagger-ui" in httpx.get(f"{base}/docs").text
    assert (tmp_path / "data" / "db" / "course_data.db").exists()
    assert (tmp_path / "data" / "redis" / "appendonlydir").is_dir()

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    wait_until(lambda: not any(alive(c) for c in children), 10, "every child process gone")


def test_a_node_killed_is_restarted_by_the_supervisor(tmp_path: Path, processes: Processes) -> None:
    config, ports = _write_config(tmp_path, services=("course_data",))
    supervisor = processes.run_py("--config", str(config))
    port = ports["course_data-1"]
    wait_until(lambda: ready(port), START_TIMEOUT, "node ready")
    node = next(c for c in processes.descendants(supervisor) if "run.py" in " ".join(c.cmdline()))
    os.kill(node.pid, signal.SIGKILL)
    wait_until(lambda: not alive(node), 10, "killed node gone")

    def restarted() -> bool:
        fresh = [c for c in processes.descendants(supervisor) if "run.py" in " ".join(c.cmdline())]
        return bool(fresh) and fresh[0].pid != node.pid and ready(port)

    wait_until(restarted, START_TIMEOUT, "node restarted and ready")


def test_one_node_by_service_name(tmp_path: Path, processes: Processes, redis_url: str) -> None:
    config, ports = _write_config(tmp_path, services=("teacher",), redis_url=redis_url)
    node = processes.run_py("--config", str(config), "teacher")
    wait_until(lambda: ready(ports["teacher-1"]), START_TIMEOUT, "teacher ready")
    node.send_signal(signal.SIGTERM)
    assert node.wait(timeout=30) == 0


def test_invalid_configuration_lists_every_problem_and_exits_2(tmp_path: Path, processes: Processes) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[nodes]]\nid = "x"\nservice = "library"\nhttp = "nowhere"\nraft = "127.0.0.1:1"\n'
        '[[nodes]]\nid = "x"\nservice = "login"\nraft = "127.0.0.1:2"\n'
    )
    process = processes.run_py("--config", str(path))
    code, text = processes.finish(process)
    assert code == 2
    for fragment in ("service: unknown service 'library'", "http: not a host:port", "id: duplicate", "http: missing"):
        assert fragment in text


def test_unknown_node_lists_the_valid_ones(tmp_path: Path, processes: Processes) -> None:
    config, _ = _write_config(tmp_path)
    process = processes.run_py("--config", str(config), "nope-7")
    code, err = processes.finish(process)
    assert code == 2
    assert "unknown node or service 'nope-7'" in err
    assert "course_data-1" in err


def test_port_in_use_names_the_port_and_the_node(tmp_path: Path, processes: Processes, redis_url: str) -> None:
    config, ports = _write_config(tmp_path, redis_url=redis_url)
    with listening(ports["login-1"]):
        process = processes.run_py("--config", str(config), "login-1")
        code, err = processes.finish(process)
    assert code == 2
    assert f"port {ports['login-1']} of node login-1 is already in use" in err


def test_a_node_that_cannot_start_stops_the_whole_cluster(tmp_path: Path, processes: Processes) -> None:
    config, ports = _write_config(tmp_path, services=("login", "teacher"))
    with listening(ports["teacher-1"]):
        supervisor = processes.run_py("--config", str(config))
        code, err = processes.finish(supervisor)
    assert code == 2
    assert "teacher-1 is already in use" in err
    assert not any(alive(p) for p in processes.seen)


def test_missing_redis_binary_is_one_line_saying_how_to_install(tmp_path: Path, processes: Processes) -> None:
    config, _ = _write_config(tmp_path)
    process = processes.run_py("--config", str(config), env={"CS_REDIS__SERVER_BINARY": "/nonexistent/redis"})
    code, err = processes.finish(process)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "apt-get install redis-server" in lines[0]


def test_help_explains_the_targets(processes: Processes) -> None:
    process = processes.run_py("--help")
    code, out = processes.finish(process)
    assert code == 0
    for word in ("NODE_ID", "SERVICE", "--config"):
        assert word in out


def test_no_process_outlives_a_killed_supervisor(tmp_path: Path, processes: Processes) -> None:
    config, ports = _write_config(tmp_path, services=("queue",))
    supervisor = processes.run_py("--config", str(config))
    wait_until(lambda: ready(ports["queue-1"]), START_TIMEOUT, "queue ready")
    children = processes.descendants(supervisor)
    names = sorted(" ".join(c.cmdline()) for c in children)
    assert len(children) == 3, names  # redis-server, the node and the node's Raft agent
    assert sum("cluster.agent" in n for n in names) == 1, names
    supervisor.kill()
    supervisor.wait(timeout=10)
    wait_until(lambda: not any(alive(c) for c in children), 20, "children gone after the supervisor died")


def test_init_creates_schemas_and_default_accounts_once(tmp_path: Path, processes: Processes) -> None:
    config, _ = _write_config(tmp_path)
    first_code, first = processes.finish(processes.run_py("--config", str(config), "init"))
    assert first_code == 0, first
    assert "login: created default accounts ['admin', 'super_admin']" in first
    again_code, again = processes.finish(processes.run_py("--config", str(config), "init"))
    assert again_code == 0
    assert "default accounts not created" in again
    assert "schema up to date" in again
    with sqlite3.connect(tmp_path / "data" / "db" / "login.db") as db:
        rows = db.execute("SELECT username, role, must_change_password FROM users ORDER BY id").fetchall()
    assert rows == [("admin", "admin", 1), ("super_admin", "super_admin", 1)]


def test_one_file_copied_to_three_hosts_starts_each_hosts_nodes_only(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    """Each host's run.py is told its name (`CS_CLUSTER__HOST`); no service spans hosts, so
    SQLite stays allowed, and the shared Redis is required (a private one per host is refused)."""
    placement = {"reg-a": ("course_data", "login"), "reg-b": ("teacher", "student"), "reg-c": ("queue",)}
    ports = free_ports(10)
    lines = ["[cluster]", f'data_dir = "{tmp_path / "data"}"', "[redis]", f'url = "{redis_url}"']
    http: dict[str, dict[str, int]] = {}
    for host, services in placement.items():
        for service in services:
            http.setdefault(host, {})[f"{service}-1"] = port = ports.pop()
            lines += ["[[nodes]]", f'id = "{service}-1"', f'service = "{service}"', f'host = "{host}"']
            lines += [f'http = "127.0.0.1:{port}"', f'raft = "127.0.0.1:{ports.pop()}"']
    config = tmp_path / "cluster.toml"
    config.write_text("\n".join(lines) + "\n")

    unset = processes.run_py("--config", str(config), env={"CS_CLUSTER__HOST": "reg-a"})
    code, err = processes.finish(unset)  # each host would generate a secret of its own
    assert code == 2
    assert "CS_SECRET_CLUSTER: the nodes are on hosts reg-a, reg-b, reg-c, but it is not set" in err
    secret = {"CS_SECRET_CLUSTER": secrets.token_urlsafe(32)}

    first = processes.run_py("--config", str(config), env={"CS_CLUSTER__HOST": "reg-a", **secret})
    for port in http["reg-a"].values():
        wait_until(lambda p=port: _answers(p), START_TIMEOUT, "reg-a's nodes serving")
    assert not any(_answers(p) for host in ("reg-b", "reg-c") for p in http[host].values())
    nodes = [c for c in processes.descendants(first) if "run.py" in " ".join(c.cmdline())]
    assert sorted(" ".join(c.cmdline()).split()[-1] for c in nodes) == ["course_data-1", "login-1"]

    for host in ("reg-b", "reg-c"):
        processes.run_py("--config", str(config), env={"CS_CLUSTER__HOST": host, **secret})
    for host_ports in http.values():
        for node_id, port in host_ports.items():
            wait_until(lambda p=port: ready(p), START_TIMEOUT, f"{node_id} ready across the three hosts")

    nowhere = processes.run_py("--config", str(config), env={"CS_CLUSTER__HOST": "reg-z", **secret})
    code, err = processes.finish(nowhere)
    assert code == 2
    assert "no node of the configuration lives on this host (host 'reg-z'" in err


def test_init_on_one_postgresql_database_shared_by_every_service(
    tmp_path: Path, processes: Processes, postgres_dsn: str
) -> None:
    import asyncio

    from storage.database import Database

    async def create() -> None:
        admin = Database(f"{postgres_dsn}/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("CREATE DATABASE shared_init")
        await admin.close()

    asyncio.run(create())
    config, _ = _write_config(tmp_path)
    env = {f"CS_SERVICES__{s.upper()}__DATABASE_URL": f"{postgres_dsn}/shared_init" for s in SERVICES}
    code, out = processes.finish(processes.run_py("--config", str(config), "init", env=env))
    assert code == 0, out
    assert "login: created default accounts ['admin', 'super_admin']" in out
    assert out.count("applied migrations") == len(SERVICES)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
