"""The cluster configuration: `cluster.toml`, then `.env`, then the environment.

Every value of the file can be overridden by an environment variable named after its
path: `CS_` + the keys joined by `__`, upper-cased. Nodes are addressed by their id
with every character that is not a letter or digit turned into `_`:

    CS_CLUSTER__DATA_DIR=/var/lib/cs
    CS_REDIS__URL=redis://10.0.0.5:6379/0
    CS_SERVICES__LOGIN__DATABASE_URL=postgresql+asyncpg://cs@db/login
    CS_NODES__COURSE_DATA_1__HTTP=127.0.0.1:9101

Values are read as TOML literals when they parse as one (`8001`, `true`, `2.5`) and as
plain strings otherwise. Validation collects every problem before failing, so an operator
fixes a broken file in one pass.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from storage.timeouts import DatabaseTimeouts

SERVICES: tuple[str, ...] = ("course_data", "login", "teacher", "student", "queue")
ENV_PREFIX = "CS_"
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeConfig:
    id: str
    service: str
    http: Address
    raft: Address

    @property
    def url(self) -> str:
        return f"http://{self.http}"


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    database_url: str


@dataclass(frozen=True)
class RedisConfig:
    url: str  # empty: run.py starts a private redis-server on private_port
    private_port: int
    server_binary: str
    max_connections: int

    @property
    def private(self) -> bool:
        return not self.url


@dataclass(frozen=True)
class HttpConfig:
    max_body_bytes: int
    log_level: str
    graceful_shutdown_seconds: float


@dataclass(frozen=True)
class RaftConfig:
    lease_seconds: float
    renew_every_seconds: float
    lease_margin_seconds: float
    heartbeat_seconds: float
    member_down_after_seconds: float
    election_timeout_min: float
    election_timeout_max: float
    append_entries_period: float
    connection_retry_seconds: float
    leader_fallback_seconds: float


@dataclass(frozen=True)
class DebugConfig:
    failpoints: bool  # fault injection for tests (e.g. pause a fenced write); never in production


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    data_dir: Path
    nodes: tuple[NodeConfig, ...]
    services: Mapping[str, ServiceConfig]
    redis: RedisConfig
    http: HttpConfig
    raft: RaftConfig
    debug: DebugConfig = DebugConfig(failpoints=False)
    database: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    source: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def node(self, node_id: str) -> NodeConfig:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def nodes_of(self, service: str) -> tuple[NodeConfig, ...]:
        return tuple(n for n in self.nodes if n.service == service)

    def database_url(self, service: str) -> str:
        return self.services[service].database_url

    def secret(self, name: str) -> str | None:
        """A secret given by environment (`CS_SECRET_<NAME>`), if any."""
        return self.env.get(f"{ENV_PREFIX}SECRET_{name.upper()}") or None


DEFAULTS: dict[str, Any] = {
    "cluster": {"name": "course-selection", "data_dir": "./data"},
    "redis": {"url": "", "private_port": 6390, "server_binary": "redis-server", "max_connections": 64},
    "http": {"max_body_bytes": 1_048_576, "log_level": "info", "graceful_shutdown_seconds": 5.0},
    "raft": {
        "lease_seconds": 1.5,
        "renew_every_seconds": 0.3,
        "lease_margin_seconds": 0.3,
        "heartbeat_seconds": 1.0,
        "member_down_after_seconds": 5.0,
        "election_timeout_min": 0.3,
        "election_timeout_max": 0.6,
        "append_entries_period": 0.05,
        "connection_retry_seconds": 0.5,
        "leader_fallback_seconds": 1.5,
    },
    "database": {  # why these values: storage/timeouts.py
        "lock_timeout_seconds": 3.0,
        "idle_in_transaction_timeout_seconds": 3.0,
        "statement_timeout_seconds": 10.0,
        "connect_timeout_seconds": 2.0,
        "pool_timeout_seconds": 10.0,
        "keepalive_seconds": 1.0,
        "keepalive_count": 3,
    },
    "debug": {"failpoints": False},
    "services": {},
    "nodes": [],
}
_SECTIONS = tuple(DEFAULTS)
_NODE_KEYS = ("id", "service", "http", "raft")
_SERVICE_KEYS = ("database_url",)


def load_config(
    path: str | Path, environ: Mapping[str, str] | None = None, dotenv: Path | None = None
) -> ClusterConfig:
    """Read `path`, then the `dotenv` file (if it exists), then `environ` (default: os.environ)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return parse_config(raw, env, base_dir=path.parent.resolve(), source=path)


def parse_config(
    raw: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    base_dir: Path | None = None,
    source: Path | None = None,
) -> ClusterConfig:
    """Validate a configuration mapping (as read from TOML) with environment overrides."""
    env = dict(env or {})
    problems: list[str] = []
    data = _merge_defaults(raw, problems)
    _apply_env(data, env, problems)
    config = _validate(data, env, base_dir or Path.cwd(), source, problems)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _merge_defaults(raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in raw:
        if key not in _SECTIONS:
            problems.append(f"{key}: unknown section (known: {', '.join(_SECTIONS)})")
    for section, default in DEFAULTS.items():
        given = copy.deepcopy(raw.get(section, default))
        if isinstance(default, dict) and section != "services":
            if not isinstance(given, dict):
                problems.append(f"{section}: must be a table")
                given = {}
            for key in given:
                if key not in default:
                    problems.append(f"{section}.{key}: unknown key")
            data[section] = {**default, **{k: v for k, v in given.items() if k in default}}
        else:
            data[section] = given
    return data


def env_key(node_id: str) -> str:
    """The form of a node id used in environment variable names."""
    return re.sub(r"[^A-Za-z0-9]", "_", node_id).upper()


def _apply_env(data: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(f"{ENV_PREFIX}SECRET_"):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        value = _env_value(text)
        if len(parts) == 2 and parts[0] in _SECTIONS and isinstance(data[parts[0]], dict):
            section = data[parts[0]]
            if parts[0] == "services" or parts[1] not in section:
                problems.append(f"{name}: no such key {parts[0]}.{parts[1]}")
            else:
                section[parts[1]] = value
        elif len(parts) == 3 and parts[0] == "services" and parts[2] in _SERVICE_KEYS:
            services = data["services"] if isinstance(data["services"], dict) else {}
            services.setdefault(parts[1], {})[parts[2]] = value
        elif len(parts) == 3 and parts[0] == "nodes" and parts[2] in _NODE_KEYS[1:]:
            matches = [
                n for n in data["nodes"] if isinstance(n, dict) and env_key(str(n.get("id", ""))) == parts[1].upper()
            ]
            if not matches:
                problems.append(f"{name}: no node whose id matches {parts[1].upper()}")
            for node in matches:
                node[parts[2]] = value
        else:
            problems.append(f"{name}: not a configuration key (see .env.example)")


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _validate(
    data: dict[str, Any], env: Mapping[str, str], base_dir: Path, source: Path | None, problems: list[str]
) -> ClusterConfig | None:
    c = data["cluster"]
    _check_type(problems, "cluster.name", c["name"], str)
    _check_type(problems, "cluster.data_dir", c["data_dir"], str)
    data_dir = (base_dir / str(c["data_dir"])).resolve()

    r = data["redis"]
    _check_type(problems, "redis.url", r["url"], str)
    if isinstance(r["url"], str) and r["url"] and not r["url"].startswith(("redis://", "rediss://", "unix://")):
        problems.append("redis.url: must start with redis://, rediss:// or unix:// (or be empty)")
    _check_port(problems, "redis.private_port", r["private_port"])
    _check_type(problems, "redis.server_binary", r["server_binary"], str)
    _check_positive(problems, "redis.max_connections", r["max_connections"], int)

    h = data["http"]
    _check_positive(problems, "http.max_body_bytes", h["max_body_bytes"], int)
    if h["log_level"] not in ("debug", "info", "warning", "error"):
        problems.append("http.log_level: must be one of debug, info, warning, error")
    _check_positive(problems, "http.graceful_shutdown_seconds", h["graceful_shutdown_seconds"], float)

    rf = data["raft"]
    for key in DEFAULTS["raft"]:
        _check_positive(problems, f"raft.{key}", rf[key], float)
    if not problems and not rf["renew_every_seconds"] + rf["lease_margin_seconds"] < rf["lease_seconds"]:
        problems.append("raft.lease_seconds: must exceed renew_every_seconds + lease_margin_seconds")
    if not problems and rf["election_timeout_min"] >= rf["election_timeout_max"]:
        problems.append("raft.election_timeout_min: must be below election_timeout_max")

    db = data["database"]
    for key, default in DEFAULTS["database"].items():
        _check_positive(problems, f"database.{key}", db[key], type(default))

    failpoints = data["debug"]["failpoints"]
    if not isinstance(failpoints, bool):
        problems.append(f"debug.failpoints: must be true or false, not {failpoints!r}")

    nodes = _validate_nodes(data["nodes"], problems)
    services = _validate_services(data["services"], data_dir, problems)
    if problems:
        return None
    return ClusterConfig(
        name=c["name"],
        data_dir=data_dir,
        nodes=nodes,
        services=services,
        redis=RedisConfig(r["url"], r["private_port"], r["server_binary"], r["max_connections"]),
        http=HttpConfig(h["max_body_bytes"], h["log_level"], float(h["graceful_shutdown_seconds"])),
        raft=RaftConfig(**{k: float(v) for k, v in rf.items()}),
        debug=DebugConfig(failpoints),
        database=DatabaseTimeouts(
            lock_seconds=float(db["lock_timeout_seconds"]),
            idle_in_transaction_seconds=float(db["idle_in_transaction_timeout_seconds"]),
            statement_seconds=float(db["statement_timeout_seconds"]),
            connect_seconds=float(db["connect_timeout_seconds"]),
            pool_seconds=float(db["pool_timeout_seconds"]),
            keepalive_seconds=float(db["keepalive_seconds"]),
            keepalive_count=int(db["keepalive_count"]),
        ),
        source=source,
        env=dict(env),
    )


def _validate_nodes(raw: Any, problems: list[str]) -> tuple[NodeConfig, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append("nodes: at least one [[nodes]] entry is required")
        return ()
    nodes: list[NodeConfig] = []
    seen_ids: dict[str, int] = {}
    seen_ports: dict[tuple[str, int], str] = {}
    for i, entry in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        if isinstance(entry.get("id"), str):
            where = f"nodes[{i}] ({entry['id']})"
        for key in entry:
            if key not in _NODE_KEYS:
                problems.append(f"{where}.{key}: unknown key (known: {', '.join(_NODE_KEYS)})")
        missing = [k for k in _NODE_KEYS if k not in entry]
        for key in missing:
            problems.append(f"{where}.{key}: missing")
        node_id, service = entry.get("id"), entry.get("service")
        if "id" in entry and (not isinstance(node_id, str) or not _NODE_ID.match(node_id)):
            problems.append(f"{where}.id: must be 1-64 letters, digits, '.', '_' or '-'")
        elif isinstance(node_id, str):
            if node_id in seen_ids:
                problems.append(f"{where}.id: duplicate of nodes[{seen_ids[node_id]}]")
            seen_ids.setdefault(node_id, i)
        if "service" in entry and service not in SERVICES:
            problems.append(f"{where}.service: unknown service {service!r} (known: {', '.join(SERVICES)})")
        addresses = {}
        for key in ("http", "raft"):
            if key in entry:
                address = _parse_address(entry[key])
                if address is None:
                    problems.append(f"{where}.{key}: not a host:port address: {entry[key]!r}")
                    continue
                spot = (address.host, address.port)
                if spot in seen_ports:
                    problems.append(f"{where}.{key}: port {address.port} already used by {seen_ports[spot]}")
                seen_ports.setdefault(spot, f"{where}.{key}")
                addresses[key] = address
        if not missing and len(addresses) == 2 and isinstance(node_id, str) and service in SERVICES:
            nodes.append(NodeConfig(node_id, service, addresses["http"], addresses["raft"]))
    return tuple(nodes)


def _validate_services(raw: Any, data_dir: Path, problems: list[str]) -> dict[str, ServiceConfig]:
    if not isinstance(raw, dict):
        problems.append("services: must be a table of tables")
        raw = {}
    for name, table in raw.items():
        if name not in SERVICES:
            problems.append(f"services.{name}: unknown service (known: {', '.join(SERVICES)})")
        elif not isinstance(table, dict):
            problems.append(f"services.{name}: must be a table")
        else:
            for key in table:
                if key not in _SERVICE_KEYS:
                    problems.append(f"services.{name}.{key}: unknown key")
    services = {}
    for name in SERVICES:
        table = raw.get(name) if isinstance(raw.get(name), dict) else {}
        url = table.get("database_url", "") if table else ""
        if not isinstance(url, str):
            problems.append(f"services.{name}.database_url: must be a string")
            url = ""
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            problems.append(f"services.{name}.database_url: must be sqlite+aiosqlite:// or postgresql+asyncpg://")
        services[name] = ServiceConfig(name, url or f"sqlite+aiosqlite:///{data_dir / 'db' / name}.db")
    return services


def _parse_address(value: Any) -> Address | None:
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\[([0-9a-fA-F:]+)\]:(\d{1,5})|([A-Za-z0-9.-]+):(\d{1,5})", value.strip())
    if not match:
        return None
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        return None
    if match.group(1):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return Address(host, port)


def _check_type(problems: list[str], key: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        problems.append(f"{key}: must be a {kind.__name__}, not {value!r}")


def _check_positive(problems: list[str], key: str, value: Any, kind: type) -> None:
    ok_types = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, ok_types) or value <= 0:
        problems.append(f"{key}: must be a positive {kind.__name__}, not {value!r}")


def _check_port(problems: list[str], key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        problems.append(f"{key}: must be a port number 1-65535, not {value!r}")
