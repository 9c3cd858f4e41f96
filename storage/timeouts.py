"""How long a database session may wait, and how fast a dead peer is noticed.

The defaults follow from the master lease (1.5 s by default): a failover must give
writes back within a few seconds even when the old master froze or died inside a
transaction that holds the fencing row's lock.

- `lock_seconds` (3 s, two leases): the longest a write waits for a lock (PostgreSQL
  `lock_timeout`; SQLite's busy timeout and the wait for this process's single writer).
  A live holder finishes well within it; a frozen one is cut off by the new master (the
  predecessor's sessions are terminated) or by the idle timeout below (PostgreSQL), or
  killed by the node's watchdog after its lease (SQLite). Past it the write answers 503.
- `idle_in_transaction_seconds` (3 s, two leases): PostgreSQL ends a session that sits
  inside a transaction without sending anything, so a frozen or dead master's locks are
  released even where it may not terminate other sessions. A live master never idles
  that long inside a transaction.
- `statement_seconds` (10 s): a runaway statement is cancelled; the client side gives
  up a little later (`command_timeout`) when the server itself is gone.
- `connect_seconds` (2 s): a connection that cannot be opened in that time is an outage
  (503), not a hang.
- `pool_seconds` (10 s): the longest a request queues behind this process's own work
  (for a pooled connection; on SQLite for its turn to write). That is load, not a
  failover: the bound is as long as an internal call's answer may take.
- `keepalive_seconds` (1 s) with `keepalive_count` (3): the server notices a dead or cut
  off client within about 4 s (`tcp_keepalives_*`, `tcp_user_timeout`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatabaseTimeouts:
    lock_seconds: float = 3.0
    idle_in_transaction_seconds: float = 3.0
    statement_seconds: float = 10.0
    connect_seconds: float = 2.0
    pool_seconds: float = 10.0
    keepalive_seconds: float = 1.0
    keepalive_count: int = 3

    def postgres_settings(self, application_name: str) -> dict[str, str]:
        """asyncpg `server_settings`: the session's own timeouts and keepalives."""
        keepalive = str(max(1, round(self.keepalive_seconds)))
        return {
            "application_name": application_name[:63],
            "lock_timeout": _ms(self.lock_seconds),
            "statement_timeout": _ms(self.statement_seconds),
            "idle_in_transaction_session_timeout": _ms(self.idle_in_transaction_seconds),
            "tcp_keepalives_idle": keepalive,
            "tcp_keepalives_interval": keepalive,
            "tcp_keepalives_count": str(self.keepalive_count),
            "tcp_user_timeout": _ms(self.keepalive_seconds * (self.keepalive_count + 1)),
        }


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))
