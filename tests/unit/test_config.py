from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cluster.config import SERVICES, ConfigError, load_config, parse_config
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
