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
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from cluster.errors import ConfigError
from storage.timeouts import DatabaseTimeouts

SERVICES: tuple[str, ...] = ("course_data", "login", "teacher", "student", "queue")
ENV_PREFIX = "CS_"
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeConfig:
    """One node. `http` and `raft` are the addresses its peers and clients reach it at;
    `http_bind` and `raft_bind` are what it binds on its own machine (default: the same).
    `host` names the machine it runs on: which nodes `run.py` starts is decided by it."""

    id: str
    service: str
    http: Address
    raft: Address
    host: str = ""
    http_bind: Address | None = None
    raft_bind: Address | None = None

    @property
    def url(self) -> str:
        return f"http://{self.http}"

    @property
    def http_listen(self) -> Address:
        return self.http_bind or self.http

    @property
    def raft_listen(self) -> Address:
        return self.raft_bind or self.raft


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    database_url: str
    # Where several services share one PostgreSQL database, each keeps its tables (and its
    # record of migrations) in a schema of its own, named after it; empty: the default.
    database_schema: str = ""


@dataclass(frozen=True)
class RedisConfig:
    url: str  # empty (and no sentinels): run.py starts a private redis-server on private_port
    private_port: int
    server_binary: str
    max_connections: int
    # Redis Sentinel: the sentinels' addresses and the name of the primary they watch.
    sentinels: tuple[Address, ...] = ()
    sentinel_service: str = "cs"
    # With sentinels, an admission is answered 202 only once all `replicas` replicas have it (WAIT,
    # this long at most): any replica the sentinels promote then has it.
    replica_wait_seconds: float = 1.0
    replicas: int = 1

    @property
    def private(self) -> bool:
        return not self.url and not self.sentinels


@dataclass(frozen=True)
class HttpConfig:
    max_body_bytes: int
    log_level: str
    graceful_shutdown_seconds: float
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (reverse proxies): IPs or
    # CIDR networks. None by default: a client's own X-Forwarded-For never chooses its address.
    trusted_proxies: tuple[str, ...] = ()
    max_import_bytes: int = 16 * 1_048_576  # CSV imports (`POST .../import`), parsed off the event loop


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
    # The cost of new password hashes in place of the replicated `security.bcrypt_rounds`: the
    # tests set 4 (a hash in ~3 ms, not ~250 ms); 0, the default, keeps the setting.
    bcrypt_rounds: int = 0


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    host: str  # this machine's name for node selection (`cluster.host`, default: its host name)
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

    def database_schema(self, service: str) -> str:
        return self.services[service].database_schema

    def secret(self, name: str) -> str | None:
        """A secret given by environment (`CS_SECRET_<NAME>`), if any."""
        return self.env.get(f"{ENV_PREFIX}SECRET_{name.upper()}") or None


DEFAULTS: dict[str, Any] = {
    "cluster": {"name": "course-selection", "data_dir": "./data", "host": ""},
    "redis": {
        "url": "",
        "private_port": 6390,
        "server_binary": "redis-server",
        "max_connections": 64,
        "sentinels": "",
        "sentinel_service": "cs",
        "replica_wait_seconds": 1.0,
        "replicas": 1,
    },
    "http": {
        "max_body_bytes": 1_048_576,
        "max_import_bytes": 16 * 1_048_576,
        "log_level": "info",
        "graceful_shutdown_seconds": 5.0,
        "trusted_proxies": [],
    },
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
    "debug": {"failpoints": False, "bcrypt_rounds": 0},
    "services": {},
    "nodes": [],
}
# What each key of the file means: one line each, shown in docs/configuration.md.
HELP: dict[str, str] = {
    "cluster.name": "the cluster's name, shown in logs and status",
    "cluster.data_dir": "SQLite files, Redis files, Raft journals and generated secrets (relative to the file)",
    "cluster.host": "this machine's name, for nodes that name their host (default: the host name)",
    "redis.url": "one Redis for every node (redis://, rediss://, unix://); empty: run.py starts a private one",
    "redis.private_port": "the loopback port of the private redis-server",
    "redis.server_binary": "the redis-server program run.py starts",
    "redis.max_connections": "connections per node; a request waits for a free one (up to 5 s)",
    "redis.sentinels": (
        "Redis Sentinel instead of url: the sentinels' host:port, comma-separated; the primary's password "
        "from CS_SECRET_REDIS"
    ),
    "redis.sentinel_service": "the name the sentinels know the primary by",
    "redis.replica_wait_seconds": (
        "with sentinels: how long an admission waits for the replicas to acknowledge it (WAIT) before "
        "answering 503 queue-not-replicated instead of 202"
    ),
    "redis.replicas": (
        "with sentinels: the replicas the primary has, every one of which must acknowledge an admission "
        "(so whichever the sentinels promote has it)"
    ),
    "http.max_body_bytes": "larger request bodies are refused with 413",
    "http.max_import_bytes": "the same for CSV imports (POST .../import), parsed off the event loop",
    "http.log_level": "debug, info, warning or error",
    "http.graceful_shutdown_seconds": "how long a stopping node finishes requests in flight",
    "http.trusted_proxies": (
        "addresses or networks of reverse proxies whose X-Forwarded-For is believed (default: none)"
    ),
    "raft.lease_seconds": "a master lease lives this long unless renewed",
    "raft.renew_every_seconds": "how often a master renews its lease",
    "raft.lease_margin_seconds": "a master stops acting this long before its lease ends (clock drift allowance)",
    "raft.heartbeat_seconds": "how often a node refreshes its membership entry",
    "raft.member_down_after_seconds": "a member silent this long shows as unhealthy",
    "raft.election_timeout_min": "PySyncObj's election timeout, lower bound",
    "raft.election_timeout_max": "PySyncObj's election timeout, upper bound",
    "raft.append_entries_period": "how often the Raft leader replicates",
    "raft.connection_retry_seconds": "how often a Raft peer reconnects",
    "raft.leader_fallback_seconds": "a leader without quorum steps down after this long",
    "database.lock_timeout_seconds": (
        "a master's write waits this long for a lock (PostgreSQL lock_timeout, SQLite busy timeout), then 503"
    ),
    "database.idle_in_transaction_timeout_seconds": "PostgreSQL ends a session idle this long inside a transaction",
    "database.statement_timeout_seconds": "PostgreSQL cancels a statement running this long",
    "database.connect_timeout_seconds": "opening a database connection takes at most this long, then 503",
    "database.pool_timeout_seconds": (
        "a request queues this long at most for a pooled connection (SQLite: for this process's turn to write)"
    ),
    "database.keepalive_seconds": "PostgreSQL's TCP keepalive period towards this node",
    "database.keepalive_count": "keepalives missed before PostgreSQL drops this node's session",
    "debug.failpoints": "fault injection for tests only (pause_ms, pause_in_transaction_ms); never in production",
    "debug.bcrypt_rounds": (
        "tests only: the cost of new password hashes (4-15) instead of security.bcrypt_rounds; "
        "0 keeps the setting; never in production"
    ),
    "services.<service>.database_url": (
        "sqlite+aiosqlite://, postgresql+asyncpg:// or mysql+asyncmy:// (MySQL, MariaDB); "
        "empty: <data_dir>/db/<service>.db"
    ),
    "nodes.id": "1-64 letters, digits, '.', '_' or '-'; unique",
    "nodes.service": "course_data, login, teacher, student or queue",
    "nodes.http": "host:port where clients and other nodes reach its HTTP API",
    "nodes.raft": "host:port where the other nodes reach its Raft member",
    "nodes.host": "optional, on every node or none: the machine that runs it (see cluster.host)",
    "nodes.http_bind": "optional: the address it binds for HTTP (default: http), e.g. 0.0.0.0:8001",
    "nodes.raft_bind": "optional: the address it binds for Raft (default: raft)",
}
_SECTIONS = tuple(DEFAULTS)
_NODE_KEYS = ("id", "service", "http", "raft")
_NODE_OPTIONAL_KEYS = ("host", "http_bind", "raft_bind")
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
        elif len(parts) == 3 and parts[0] == "nodes" and parts[2] in (*_NODE_KEYS[1:], *_NODE_OPTIONAL_KEYS):
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
    _check_type(problems, "cluster.host", c["host"], str)
    data_dir = (base_dir / str(c["data_dir"])).resolve()

    r = data["redis"]
    _check_type(problems, "redis.url", r["url"], str)
    if isinstance(r["url"], str) and r["url"] and not r["url"].startswith(("redis://", "rediss://", "unix://")):
        problems.append("redis.url: must start with redis://, rediss:// or unix:// (or be empty)")
    _check_port(problems, "redis.private_port", r["private_port"])
    _check_type(problems, "redis.server_binary", r["server_binary"], str)
    _check_positive(problems, "redis.max_connections", r["max_connections"], int)
    sentinels = _parse_sentinels(r["sentinels"], problems)
    if sentinels and r["url"]:
        problems.append("redis.url: leave it empty when redis.sentinels is set (the sentinels name the primary)")
    _check_type(problems, "redis.sentinel_service", r["sentinel_service"], str)
    _check_positive(problems, "redis.replica_wait_seconds", r["replica_wait_seconds"], float)
    _check_positive(problems, "redis.replicas", r["replicas"], int)

    h = data["http"]
    _check_positive(problems, "http.max_body_bytes", h["max_body_bytes"], int)
    _check_positive(problems, "http.max_import_bytes", h["max_import_bytes"], int)
    if h["log_level"] not in ("debug", "info", "warning", "error"):
        problems.append("http.log_level: must be one of debug, info, warning, error")
    _check_positive(problems, "http.graceful_shutdown_seconds", h["graceful_shutdown_seconds"], float)
    proxies = h["trusted_proxies"]
    if not isinstance(proxies, list) or not all(_is_network(p) for p in proxies):
        problems.append(f"http.trusted_proxies: must be a list of IP addresses or networks, not {proxies!r}")
        proxies = []

    rf = data["raft"]
    for key in DEFAULTS["raft"]:
        _check_positive(problems, f"raft.{key}", rf[key], float)
    if not problems and not rf["renew_every_seconds"] + rf["lease_margin_seconds"] < rf["lease_seconds"]:
        problems.append("raft.lease_seconds: must exceed renew_every_seconds + lease_margin_seconds")
    if not problems and rf["election_timeout_min"] >= rf["election_timeout_max"]:
        problems.append("raft.election_timeout_min: must be below election_timeout_max")
    # PySyncObj asserts these two when the agent starts (SyncObjConf.validate): refused here, by key.
    if not problems and not rf["election_timeout_min"] > 3 * rf["append_entries_period"]:
        problems.append("raft.election_timeout_min: must exceed 3 x append_entries_period")
    if not problems and not rf["leader_fallback_seconds"] > rf["append_entries_period"]:
        problems.append("raft.leader_fallback_seconds: must exceed append_entries_period")

    db = data["database"]
    for key, default in DEFAULTS["database"].items():
        _check_positive(problems, f"database.{key}", db[key], type(default))

    failpoints = data["debug"]["failpoints"]
    if not isinstance(failpoints, bool):
        problems.append(f"debug.failpoints: must be true or false, not {failpoints!r}")
    bcrypt_rounds = data["debug"]["bcrypt_rounds"]
    if type(bcrypt_rounds) is not int or not (bcrypt_rounds == 0 or 4 <= bcrypt_rounds <= 15):
        problems.append(f"debug.bcrypt_rounds: must be 0 or an integer from 4 to 15, not {bcrypt_rounds!r}")

    nodes = _validate_nodes(data["nodes"], problems)
    services = _validate_services(data["services"], data_dir, problems)
    if not problems:
        check_placement(nodes, services, bool(r["url"] or sentinels), problems)
    if problems:
        return None
    return ClusterConfig(
        name=c["name"],
        host=c["host"] or socket.gethostname(),
        data_dir=data_dir,
        nodes=nodes,
        services=services,
        redis=RedisConfig(
            r["url"],
            r["private_port"],
            r["server_binary"],
            r["max_connections"],
            sentinels,
            r["sentinel_service"],
            float(r["replica_wait_seconds"]),
            r["replicas"],
        ),
        http=HttpConfig(
            h["max_body_bytes"],
            h["log_level"],
            float(h["graceful_shutdown_seconds"]),
            trusted_proxies=tuple(proxies),
            max_import_bytes=h["max_import_bytes"],
        ),
        raft=RaftConfig(**{k: float(v) for k, v in rf.items()}),
        debug=DebugConfig(failpoints, bcrypt_rounds),
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
    seen_ports: dict[tuple[str, str, int], str] = {}
    for i, entry in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        if isinstance(entry.get("id"), str):
            where = f"nodes[{i}] ({entry['id']})"
        for key in entry:
            if key not in (*_NODE_KEYS, *_NODE_OPTIONAL_KEYS):
                known = ", ".join((*_NODE_KEYS, *_NODE_OPTIONAL_KEYS))
                problems.append(f"{where}.{key}: unknown key (known: {known})")
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
        host = entry.get("host", "")
        if not isinstance(host, str) or (host and not _HOST_NAME.match(host)):
            problems.append(f"{where}.host: must be a host name (letters, digits, '.', '-'), not {host!r}")
            host = ""
        addresses: dict[str, Address] = {}
        for key in ("http", "raft", "http_bind", "raft_bind"):
            if key in entry:
                address = _parse_address(entry[key])
                if address is None:
                    problems.append(f"{where}.{key}: not a host:port address: {entry[key]!r}")
                    continue
                if key in ("http", "raft") and _is_wildcard(address.host):
                    problems.append(
                        f"{where}.{key}: {address.host} is an address to bind, not one peers can reach; "
                        f"put it in {key}_bind and give {key} an address of this machine that the others reach"
                    )
                if key in ("http", "raft"):
                    spot = (host, address.host, address.port)
                    if spot in seen_ports:
                        problems.append(f"{where}.{key}: port {address.port} already used by {seen_ports[spot]}")
                    seen_ports.setdefault(spot, f"{where}.{key}")
                addresses[key] = address
        complete = not missing and "http" in addresses and "raft" in addresses
        if complete and isinstance(node_id, str) and service in SERVICES:
            nodes.append(
                NodeConfig(
                    node_id,
                    service,
                    addresses["http"],
                    addresses["raft"],
                    host,
                    addresses.get("http_bind"),
                    addresses.get("raft_bind"),
                )
            )
    named = [n for n in nodes if n.host]
    if named and len(named) != len(nodes):
        unnamed = ", ".join(n.id for n in nodes if not n.host)
        problems.append(f"nodes: either every node names its host or none does; no host key on: {unnamed}")
    return tuple(nodes)


def host_of(node: NodeConfig) -> str:
    """The machine a node is on: its `host` key, else its HTTP address (all loopback is one)."""
    if node.host:
        return node.host
    address = node.http.host
    if address == "localhost" or _is_loopback(address):
        return "loopback"
    return address


def check_placement(
    nodes: tuple[NodeConfig, ...], services: Mapping[str, ServiceConfig], shared_redis: bool, problems: list[str]
) -> None:
    """Refuse what loses data across machines: a per-host database or Redis under several hosts."""
    hosts = sorted({host_of(n) for n in nodes})
    for name, service in services.items():
        on = sorted({host_of(n) for n in nodes if n.service == name})
        if len(on) > 1 and service.database_url.startswith("sqlite"):
            problems.append(
                f"services.{name}.database_url: the nodes of {name} are on hosts {', '.join(on)}, but SQLite "
                "is a file on one host (each would keep its own data); set a postgresql+asyncpg:// URL that "
                "every host reaches, or put all of its nodes on one host"
            )
    if len(hosts) > 1 and not shared_redis:
        problems.append(
            f"redis.url: the nodes are on hosts {', '.join(hosts)}, but with no URL each host starts a "
            "private redis-server (queue entries and login throttles would be per host); set redis.url to one "
            "Redis that every host reaches"
        )


def _parse_sentinels(value: Any, problems: list[str]) -> tuple[Address, ...]:
    if not isinstance(value, str):
        problems.append(f"redis.sentinels: must be a string of host:port, comma-separated, not {value!r}")
        return ()
    found = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        address = _parse_address(item)
        if address is None:
            problems.append(f"redis.sentinels: not a host:port address: {item!r}")
        else:
            found.append(address)
    return tuple(found)


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    schemes = ("sqlite+aiosqlite://", "postgresql+asyncpg://", "mysql+asyncmy://", "mariadb+asyncmy://")
    for name in SERVICES:
        table = raw.get(name) if isinstance(raw.get(name), dict) else {}
        url = table.get("database_url", "") if table else ""
        if not isinstance(url, str):
            problems.append(f"services.{name}.database_url: must be a string")
            url = ""
        if url and not url.startswith(schemes):
            problems.append(f"services.{name}.database_url: must start with one of {', '.join(schemes)}")
        services[name] = ServiceConfig(name, url or f"sqlite+aiosqlite:///{data_dir / 'db' / name}.db")
    return _separate_shared(services, problems)


def _separate_shared(services: dict[str, ServiceConfig], problems: list[str]) -> dict[str, ServiceConfig]:
    """Services on one PostgreSQL database get a schema each; a shared SQLite file is refused."""
    by_url: dict[str, list[str]] = {}
    for name, service in services.items():
        by_url.setdefault(service.database_url, []).append(name)
    for url, names in by_url.items():
        if len(names) < 2:
            continue
        if not url.startswith("postgresql"):
            problems.append(
                f"services.{names[1]}.database_url: the same database as services.{names[0]}; give each "
                "service its own (a file for SQLite, a database for MySQL), or share one PostgreSQL database"
            )
            continue
        for name in names:
            services[name] = ServiceConfig(name, url, database_schema=name)
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


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


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
