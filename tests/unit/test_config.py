from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cluster.config import SERVICES, load_config, parse_config
from cluster.errors import ConfigError
from tests.support import ROOT

GOOD = """
[cluster]
data_dir = "/tmp/x"
[[nodes]]
id = "a"
service = "login"
http = "127.0.0.1:8002"
raft = "127.0.0.1:9002"
"""


def test_default_file_has_one_node_per_service_on_the_seed_ports() -> None:
    config = load_config(ROOT / "cluster.toml", environ={})
    assert [n.service for n in config.nodes] == list(SERVICES)
    assert [n.http.port for n in config.nodes] == [8001, 8002, 8003, 8004, 8005]
    assert config.redis.private
    assert config.database_url("login").endswith("/data/db/login.db")
    assert config.database_url("login").startswith("sqlite+aiosqlite:///")


def test_every_problem_is_reported_at_once_each_naming_its_key() -> None:
    raw = tomllib.loads(
        """
[cluster]
colour = "blue"
[[nodes]]
id = "a"
service = "library"
http = "127.0.0.1:8001"
raft = "127.0.0.1:9001"
[[nodes]]
id = "a"
service = "login"
http = "127.0.0.1:8001"
raft = "localhost"
[[nodes]]
id = "c"
service = "queue"
http = "127.0.0.1:99999"
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, {})
    problems = caught.value.problems
    expected = [
        "cluster.colour: unknown key",
        "nodes[0] (a).service: unknown service 'library'",
        "nodes[1] (a).id: duplicate of nodes[0]",
        "nodes[1] (a).http: port 8001 already used by nodes[0] (a).http",
        "nodes[1] (a).raft: not a host:port address",
        "nodes[2] (c).raft: missing",
        "nodes[2] (c).http: not a host:port address",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected)


def test_no_nodes_is_a_problem() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        parse_config({}, {})


def test_environment_overrides_any_value() -> None:
    env = {
        "CS_CLUSTER__DATA_DIR": "/srv/cs",
        "CS_REDIS__URL": "redis://127.0.0.1:7000/1",
        "CS_HTTP__MAX_BODY_BYTES": "2048",
        "CS_SERVICES__LOGIN__DATABASE_URL": "postgresql+asyncpg://u@db/login",
        "CS_NODES__A__HTTP": "127.0.0.1:9999",
        "CS_RAFT__LEASE_SECONDS": "4.5",
        "UNRELATED": "x",
    }
    config = parse_config(tomllib.loads(GOOD), env)
    assert config.data_dir == Path("/srv/cs")
    assert config.redis.url == "redis://127.0.0.1:7000/1"
    assert not config.redis.private
    assert config.http.max_body_bytes == 2048
    assert config.database_url("login") == "postgresql+asyncpg://u@db/login"
    assert config.database_url("queue") == "sqlite+aiosqlite:////srv/cs/db/queue.db"
    assert config.node("a").http.port == 9999
    assert config.raft.lease_seconds == 4.5


def test_bad_environment_values_are_reported_with_their_names() -> None:
    env = {"CS_HTTP__MAX_BODY_BYTES": "lots", "CS_NOPE__X": "1", "CS_NODES__ZZZ__HTTP": "127.0.0.1:1"}
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(GOOD), env)
    text = "\n".join(caught.value.problems)
    assert "http.max_body_bytes: must be a positive int, not 'lots'" in text
    assert "CS_NOPE__X: not a configuration key" in text
    assert "CS_NODES__ZZZ__HTTP: no node whose id matches ZZZ" in text


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(ConfigError, match=r"redis\.private_port"):
        parse_config(tomllib.loads(GOOD), {"CS_REDIS__PRIVATE_PORT": "true"})


def test_database_urls_must_be_a_supported_driver() -> None:
    with pytest.raises(ConfigError, match=r"services.queue.database_url: must start with one of sqlite\+aiosqlite"):
        parse_config(tomllib.loads(GOOD), {"CS_SERVICES__QUEUE__DATABASE_URL": "mysql://x"})
    mysql = "mysql+asyncmy://cs:pw@db:3306/queue"
    config = parse_config(tomllib.loads(GOOD), {"CS_SERVICES__QUEUE__DATABASE_URL": mysql})
    assert config.database_url("queue") == mysql


def test_lease_must_outlast_renewal_and_margin() -> None:
    with pytest.raises(ConfigError, match=r"raft\.lease_seconds: must exceed"):
        parse_config(tomllib.loads(GOOD), {"CS_RAFT__LEASE_SECONDS": "0.6"})


def test_raft_timings_pysyncobj_would_assert_on_are_refused_by_key() -> None:
    """PySyncObj's own check (an AssertionError in the agent at start) is made here instead."""
    with pytest.raises(ConfigError, match=r"raft\.election_timeout_min: must exceed 3 x append_entries_period"):
        parse_config(tomllib.loads(GOOD), {"CS_RAFT__APPEND_ENTRIES_PERIOD": "0.1"})
    with pytest.raises(ConfigError, match=r"raft\.leader_fallback_seconds: must exceed append_entries_period"):
        parse_config(tomllib.loads(GOOD), {"CS_RAFT__LEADER_FALLBACK_SECONDS": "0.04"})


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD)
    dotenv = tmp_path / ".env"
    dotenv.write_text("CS_HTTP__LOG_LEVEL=debug\nCS_HTTP__MAX_BODY_BYTES=10\n")
    config = load_config(tmp_path / "c.toml", environ={"CS_HTTP__MAX_BODY_BYTES": "20"}, dotenv=dotenv)
    assert config.http.log_level == "debug"
    assert config.http.max_body_bytes == 20


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml", environ={})
    (tmp_path / "bad.toml").write_text("[cluster\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml", environ={})


def test_env_example_documents_every_key() -> None:
    example = (ROOT / ".env.example").read_text()
    from cluster.config import DEFAULTS

    for section, table in DEFAULTS.items():
        if isinstance(table, dict) and section != "services":
            for key in table:
                assert f"CS_{section.upper()}__{key.upper()}" in example, (section, key)
    assert "CS_SERVICES__COURSE_DATA__DATABASE_URL" in example
    assert "CS_NODES__" in example


def _hosts_file(database: str = "", redis: str = "redis://127.0.0.1:6379/0") -> dict[str, object]:
    """Three hosts with a node of course_data and login each, addresses on a private network."""
    text = f'[cluster]\ndata_dir = "/srv/cs"\n[redis]\nurl = "{redis}"\n'
    for service in ("course_data", "login"):
        text += f'[services.{service}]\ndatabase_url = "{database}"\n'
    for i, host in enumerate(("reg-a", "reg-b", "reg-c")):
        for j, service in enumerate(("course_data", "login")):
            text += (
                f'[[nodes]]\nid = "{service}-{host}"\nservice = "{service}"\nhost = "{host}"\n'
                f'http = "10.0.0.{i + 1}:800{j + 1}"\nraft = "10.0.0.{i + 1}:900{j + 1}"\n'
                f'http_bind = "0.0.0.0:800{j + 1}"\n'
            )
    return tomllib.loads(text)


def test_one_file_on_three_hosts_makes_each_host_start_its_own_nodes_only() -> None:
    from cluster.hosts import local_nodes

    raw = _hosts_file(database="postgresql+asyncpg://cs@db/cs")
    for host in ("reg-a", "reg-b", "reg-c"):
        config = parse_config(raw, {"CS_CLUSTER__HOST": host})
        assert [n.id for n in local_nodes(config)] == [f"course_data-{host}", f"login-{host}"]
        node = local_nodes(config)[0]
        assert str(node.http_listen) == "0.0.0.0:8001"  # what it binds
        assert node.url.startswith("http://10.0.0.")  # what the others call
        assert node.raft_listen == node.raft  # no raft_bind: binds what it advertises
    assert local_nodes(parse_config(raw, {"CS_CLUSTER__HOST": "elsewhere"})) == []


def test_a_per_host_database_or_redis_under_several_hosts_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_hosts_file(database="", redis=""), {})
    problems = "\n".join(caught.value.problems)
    assert "services.course_data.database_url: the nodes of course_data are on hosts reg-a, reg-b, reg-c" in problems
    assert "services.login.database_url:" in problems
    assert "set a postgresql+asyncpg:// URL" in problems
    assert "redis.url: the nodes are on hosts reg-a, reg-b, reg-c" in problems
    # services each on one host may keep SQLite; several hosts still need one Redis
    parse_config(_hosts_file(database="postgresql+asyncpg://cs@db/cs"), {})


def test_hosts_without_host_keys_are_told_apart_by_address_and_loopback_is_one_host() -> None:
    text = GOOD + '[[nodes]]\nid = "b"\nservice = "login"\nhttp = "127.0.0.2:8003"\nraft = "localhost:9003"\n'
    parse_config(tomllib.loads(text), {})  # all loopback: one host, SQLite and private Redis are fine
    text += '[[nodes]]\nid = "c"\nservice = "login"\nhttp = "10.1.1.1:8002"\nraft = "10.1.1.1:9002"\n'
    with pytest.raises(ConfigError, match=r"services.login.database_url: the nodes of login are on hosts 10.1.1.1"):
        parse_config(tomllib.loads(text), {})


def test_host_keys_on_some_nodes_only_and_wildcard_advertised_addresses_are_refused() -> None:
    text = GOOD.replace('http = "127.0.0.1:8002"', 'http = "0.0.0.0:8002"\nhost = "reg-a"')
    text += '[[nodes]]\nid = "b"\nservice = "queue"\nhttp = "127.0.0.1:8005"\nraft = "127.0.0.1:9005"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(text), {})
    problems = caught.value.problems
    assert any(p.startswith("nodes[0] (a).http: 0.0.0.0 is an address to bind") for p in problems), problems
    assert "nodes: either every node names its host or none does; no host key on: b" in problems


def test_services_sharing_one_postgresql_database_get_a_schema_each_and_sqlite_cannot_be_shared() -> None:
    shared = "".join(f'[services.{s}]\ndatabase_url = "postgresql+asyncpg://cs@db/cs"\n' for s in SERVICES)
    config = parse_config(tomllib.loads(GOOD + shared), {})
    assert {config.database_schema(s) for s in SERVICES} == set(SERVICES)
    alone = GOOD + '[services.login]\ndatabase_url = "postgresql+asyncpg://cs@db/login"\n'
    assert parse_config(tomllib.loads(alone), {}).database_schema("login") == ""
    same_file = "".join(f'[services.{s}]\ndatabase_url = "sqlite+aiosqlite:////srv/one.db"\n' for s in SERVICES[:2])
    with pytest.raises(ConfigError, match=r"services.login.database_url: the same database as services.course_data"):
        parse_config(tomllib.loads(GOOD + same_file), {})


def test_the_tests_bcrypt_cost_is_off_by_default_and_replaces_the_setting_only_when_given() -> None:
    from cluster.settings import SecuritySettings
    from services.login.passwords import hash_rounds

    policy = SecuritySettings()
    default = parse_config(tomllib.loads(GOOD), {})
    assert default.debug.bcrypt_rounds == 0
    assert hash_rounds(default, policy) == policy.bcrypt_rounds == 12  # production: the replicated setting
    assert hash_rounds(default, policy.model_copy(update={"bcrypt_rounds": 13})) == 13
    cheap = parse_config(tomllib.loads(GOOD), {"CS_DEBUG__BCRYPT_ROUNDS": "4"})
    assert hash_rounds(cheap, policy) == 4
    for bad in ("3", "16", '"4"', "true", "4.0"):
        with pytest.raises(ConfigError, match=r"debug\.bcrypt_rounds"):
            parse_config(tomllib.loads(GOOD), {"CS_DEBUG__BCRYPT_ROUNDS": bad})
