"""Which database family a connection speaks, for the few statements that differ.

MySQL and MariaDB share one family: SQLAlchemy names the dialect `mysql` for either
server behind a `mysql+asyncmy://` URL, and `mariadb` behind `mariadb+asyncmy://`.
Tables carry `MYSQL_TABLE` so that text is utf8mb4 compared byte by byte on those
servers, as it is on SQLite and PostgreSQL (the servers' default collations ignore case).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Double,
    Float,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.ext.asyncio import AsyncConnection

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})
# Text of any length: MySQL's TEXT holds 64 KiB, LONGTEXT 4 GiB (SQLite and PostgreSQL have no such limit).
LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def is_mysql(dialect: Dialect) -> bool:
    return dialect.name in MYSQL_FAMILY


def among(dialect: Dialect, column: ColumnElement[Any], values: Collection[Any], tag: str = "") -> ColumnElement[bool]:
    """`column IN (values)`, with the values as one parameter on PostgreSQL and MySQL/MariaDB
    whatever their number, so the statement's text (and asyncpg's prepared statement) is
    reused instead of rendering, binding and preparing a new one for each length.

    PostgreSQL: `IN (SELECT unnest(:array))`, a join the planner can hash (`= ANY(:array)`
    compares every row with every value when it scans a table it thinks small, as a new
    one is). MySQL/MariaDB: `IN (SELECT ... FROM JSON_TABLE(:json ...))`, materialized and
    looked up by index (for whole numbers and strings; other types are expanded). Use it
    once per column in a statement (the parameter is named after the column), or give each
    use with other values its own `tag` (as the queries of one `select_many` may need)."""
    if dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column.in_(select(func.unnest(array)))
    if dialect.name in MYSQL_FAMILY and (kind := _json_table_type(column)) is not None:
        table = getattr(column, "table", None)
        name = f"among_{getattr(table, 'name', '')}_{column.key}{tag}"
        rows = f"SELECT j.v FROM JSON_TABLE(:{name}, '$[*]' COLUMNS (v {kind} PATH '$')) AS j"
        listed = [int(v) if kind == "BIGINT" else str(v) for v in values]
        return column.in_(text(rows).bindparams(bindparam(name, json.dumps(listed))).columns(v=column.type))
    return column.in_(list(values))


def among_written(dialect: Dialect, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`among` for the WHERE of an UPDATE or a DELETE. MariaDB (10.11) does not make the IN
    subquery of a one-table UPDATE or DELETE a join: its EXPLAIN shows the JSON_TABLE run as a
    dependent subquery for every row of the table, a full scan of the courses or the outbox
    for each batch. There the values go as an IN list instead (a parameter each: each length
    is a statement of its own, prepared once per connection)."""
    if dialect.name in MYSQL_FAMILY:
        return column.in_(list(values))
    return among(dialect, column, values)


def _json_table_type(column: ColumnElement[Any]) -> str | None:
    """The JSON_TABLE column type that compares with `column` as the column itself does."""
    kind = column.type
    if isinstance(kind, Integer):
        return "BIGINT"
    if isinstance(kind, String) and kind.length:
        return f"VARCHAR({kind.length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"  # as MYSQL_TABLE's columns
    return None


async def insert_new(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows`, keeping (not failing on) those whose key is already there.

    One small statement executed for many rows (executemany): a multi-row VALUES clause
    of thousands of rows costs the event loop seconds to compile."""
    if is_mysql(conn.dialect):  # (not INSERT IGNORE: that would also turn strict-mode errors into warnings)
        stmt = mysql.insert(table)
        key = table.primary_key.columns.values()[0].name
        await conn.execute(stmt.on_duplicate_key_update({key: stmt.inserted[key]}), list(rows))
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(table).on_conflict_do_nothing(), list(rows))


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) in one statement whatever their number.

    PostgreSQL: `INSERT ... SELECT * FROM unnest(:column_arrays...)`, one array per column:
    the server runs one statement instead of one per row, and the client binds a few arrays
    instead of each row's values. Elsewhere one executemany (`_insert_many`; measured: a
    JSON_TABLE of the rows costs MariaDB more than it saves), as for a table whose missing
    columns have computed defaults."""
    if rows:
        inserts = Inserts()
        inserts.add(table, rows)
        await inserts.send(conn)


class Inserts:
    """Rows for several tables, sent together: on PostgreSQL one statement whatever the number
    of tables (a data-modifying CTE per table, each an `insert_rows`), elsewhere one statement
    per table, in the order added. One table's rows may be returned (`send(returning=...)`): on
    PostgreSQL by the same statement's RETURNING, elsewhere by a SELECT after the inserts (on
    MariaDB cheaper than a RETURNING, which its bulk insert cannot give). Measured (issue 14): a
    batch's four INSERTs and the SELECT of the decisions' order numbers after them were five
    round trips, each a wait for the server."""

    def __init__(self) -> None:
        self._tables: list[tuple[Table, list[dict[str, Any]]]] = []

    def add(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Rows to insert in `table` (after those added before: a table's rows keep their order)."""
        if not rows:
            return
        for added, before in self._tables:
            if added is table and list(before[0]) == list(rows[0]):
                before.extend(rows)
                return
        self._tables.append((table, list(rows)))

    def __bool__(self) -> bool:
        return bool(self._tables)

    async def send(self, conn: AsyncConnection, returning: Returning | None = None) -> list[Any]:
        """Insert every row added, then forget them; the rows `returning` asks for (else [])."""
        tables, self._tables = self._tables, []
        if conn.dialect.name != "postgresql":
            for table, rows in tables:
                await _insert_many(conn, table, rows)
            return list((await conn.execute(returning.query(conn.dialect))).all()) if returning else []
        parts: list[str] = []
        params: dict[str, Any] = {}
        answer = "SELECT 1"
        for t, (table, rows) in enumerate(tables):
            unnested = _unnest_insert(conn.dialect, table, rows, f"t{t}_")
            if unnested is None:  # (a type unnest cannot carry, or a computed default)
                await conn.execute(table.insert(), rows)
                continue
            sql, values = unnested
            params.update(values)
            if returning is not None and table is returning.table:
                quote = conn.dialect.identifier_preparer.quote
                listed = ", ".join(quote(c.name) for c in returning.columns)
                sql += f" RETURNING {listed}"
                answer = f"SELECT {listed} FROM i{t}"
            parts.append(f"i{t} AS ({sql})")
        if parts:
            result = await conn.execute(text(f"WITH {', '.join(parts)} {answer}"), params)
            if returning is not None and answer != "SELECT 1":
                return list(result.all())
        return list((await conn.execute(returning.query(conn.dialect))).all()) if returning else []


# MySQL/MariaDB: the most one insert statement carries, by an estimate of its rows' size (4
# bytes a character, 9 a number): as asyncmy's text executemany (`max_stmt_length`), well
# under any server's `max_allowed_packet` (16 MiB by default). A bulk insert has no such
# bound of its own: past the server's packet it fails and the server drops the connection.
_MYSQL_STATEMENT_BYTES = 1_000_000


async def _insert_many(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite and MySQL/MariaDB: `rows` inserted by executemany. On MySQL/MariaDB it is the
    driver's own, of a one-row INSERT and the rows as tuples (`_driver_insert`), in parts of
    at most `_MYSQL_STATEMENT_BYTES`: asyncmy sends each as one COM_STMT_BULK_EXECUTE of a
    statement prepared once per connection on MariaDB (`storage.database` gives connections a
    statement cache), else as a multi-row INSERT text. Measured (issue 14, a batch of 500
    decisions on MariaDB): SQLAlchemy's executemany (each row's parameters processed in
    Python, then every value formatted into the text) cost more client CPU than deciding."""
    driver = _driver_insert(conn.dialect, table, rows) if is_mysql(conn.dialect) else None
    if driver is None:
        await conn.execute(table.insert(), rows)
        return
    sql, values, texts = driver
    for part in _parts(values, texts, _MYSQL_STATEMENT_BYTES):
        await conn.exec_driver_sql(sql, part)


def _parts(values: list[tuple[Any, ...]], texts: list[int], limit: int) -> list[list[tuple[Any, ...]]]:
    """`values` (one row at least) cut into consecutive runs whose estimated size is at most
    `limit` (a row larger than that alone); `texts`: the positions of the text columns, the
    rest counted 9 bytes."""
    fixed = 9 * len(values[0])
    lengths = [list(map(len, [row[i] or "" for row in values])) for i in texts]  # (per column: C loops)
    if fixed * len(values) + 4 * sum(map(sum, lengths)) <= limit:
        return [values]
    weights = [fixed + 4 * sum(column) for column in zip(*lengths, strict=True)] if texts else [fixed] * len(values)
    parts: list[list[tuple[Any, ...]]] = [[]]
    size = 0
    for row, weight in zip(values, weights, strict=True):
        if parts[-1] and size + weight > limit:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += weight
    return parts


def _driver_insert(
    dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[str, list[tuple[Any, ...]], list[int]] | None:
    """A one-row `INSERT ... VALUES (%s, ...)`, each row's values in its column order (with
    the columns' scalar defaults and bind processors applied as SQLAlchemy would) and the
    positions of its text columns; None where `_inserted_columns` says a bulk insert does
    not do. A column NULL in every row, with no default of either kind, is left out (the
    server stores NULL): asyncmy cannot send a column of nothing but NULLs in bulk and would
    send every row as text instead (as an enrollment batch's decisions: none drops a course)."""
    if (shape := _inserted_columns(table, rows)) is None:
        return None
    keys, defaults = shape
    bare = [c for c in table.columns if c.default is None and c.server_default is None]
    keys = [k for k in keys if table.c[k] not in bare or any(r[k] is not None for r in rows)]
    names = [table.c[k] for k in [*keys, *defaults]]
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in names]
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in names)
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({columns}) VALUES ({placeholders})"
    fixed = tuple(defaults.values())
    values = [(*(r[k] for k in keys), *fixed) for r in rows]
    if any(processors):
        values = [tuple(v if f is None else f(v) for f, v in zip(processors, row, strict=True)) for row in values]
    return sql, values, [i for i, c in enumerate(names) if isinstance(c.type, (String, LargeBinary))]


@dataclass(frozen=True)
class Returning:
    """The inserted rows `Inserts.send` returns: `columns` of `table`, of the rows whose `key`
    is among `values` (the rows just inserted: the SELECT where RETURNING is not used)."""

    table: Table
    columns: tuple[Column[Any], ...]
    key: Column[Any]
    values: tuple[Any, ...]

    def query(self, dialect: Dialect) -> Select[Any]:
        return select(*self.columns).where(among(dialect, self.key, self.values))


def _inserted_columns(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, Any]] | None:
    """The keys of `rows` and the scalar defaults of the columns they leave out (key -> value),
    the columns a bulk insert sends for every row as SQLAlchemy's own insert would; None when
    a bulk insert cannot stand for it (a column left out has a computed default, or the rows
    have different keys)."""
    keys = list(rows[0])
    left_out = [c for c in table.columns if c.key not in rows[0] and c.default is not None]
    if any(not c.default.is_scalar for c in left_out) or any(list(r) != keys for r in rows):  # type: ignore[union-attr]
        return None
    return keys, {c.key: c.default.arg for c in left_out}  # type: ignore[union-attr]


def _unnest_insert(
    dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]], prefix: str
) -> tuple[str, dict[str, Any]] | None:
    """PostgreSQL: `INSERT INTO table (...) SELECT * FROM unnest(:arrays)` and its parameters,
    or None where it does not apply (a column type unnest cannot carry, or `_inserted_columns`)."""
    if (shape := _inserted_columns(table, rows)) is None:
        return None
    keys, defaults = shape
    names = [*keys, *defaults]
    kinds = [_bulk_type(dialect, table.c[k]) for k in names]
    if None in kinds:
        return None
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(table.c[k].name) for k in names)
    into = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({columns}) "
    values = [[r[k] for r in rows] for k in keys] + [[v] * len(rows) for v in defaults.values()]
    arrays = ", ".join(f"CAST(:{prefix}c{i} AS {kind}[])" for i, kind in enumerate(kinds))
    return f"{into}SELECT * FROM unnest({arrays})", {f"{prefix}c{i}": v for i, v in enumerate(values)}


def _bulk_type(dialect: Dialect, column: Column[Any]) -> str | None:
    """The array element type of a column in `insert_rows` (None: not supported, use executemany)."""
    kind = column.type
    return kind.compile(dialect=dialect) if isinstance(kind, (Integer, String, Double, Boolean)) else None


async def select_many(conn: AsyncConnection, queries: Sequence[Select[Any]]) -> list[list[Any]]:
    """The rows of each of `queries` (rows as `execute` gives them), in one round trip on
    PostgreSQL and MySQL/MariaDB: one statement whose columns are each query's rows as a JSON
    array (`json_agg`, `JSON_ARRAYAGG`), decoded here by the queries' own column types. SQLite
    (in this process: no round trip) runs them one by one. Label every computed column (its
    name is its key on PostgreSQL). A query's ORDER BY is not kept: sort its rows after.
    MySQL/MariaDB bound JSON_ARRAYAGG by `group_concat_max_len`, which every session of
    `storage.database` raises to its maximum (the default 1 MiB would cut a large batch's rows).
    Measured (issue 14): a batch's facts were about 15 SELECTs, each a round trip to a server
    process that, on a loaded machine, waits for a core before it answers."""
    if len(queries) < 2 or not (conn.dialect.name == "postgresql" or is_mysql(conn.dialect)):
        return [list((await conn.execute(q)).all()) for q in queries]
    postgres = conn.dialect.name == "postgresql"
    shapes = [_row_shape(q) for q in queries]
    columns = []
    for i, q in enumerate(queries):
        sub = q.order_by(None).subquery(f"many_{i}")
        # PostgreSQL: each row as an object by its column names (json_agg of the row: building
        # json_build_array over SQLAlchemy's proxy of every column cost milliseconds a call).
        rows = func.json_agg(sub.table_valued()) if postgres else func.json_arrayagg(func.json_array(*sub.c))
        columns.append(func.coalesce(select(rows).scalar_subquery(), literal_column("'[]'")).label(f"r{i}"))
    answer = (await conn.execute(select(*columns))).one()
    found = []
    for (row, names, convert), cell in zip(shapes, answer, strict=True):
        listed = cell if isinstance(cell, list) else orjson.loads(cell)
        if postgres:
            listed = [[r[n] for n in names] for r in listed]
        found.append([row(tuple(c(v) for c, v in zip(convert, r, strict=True))) for r in listed])
    return found


def _row_shape(query: Select[Any]) -> tuple[Callable[..., Any], list[str], list[Callable[[Any], Any]]]:
    """How to make `query`'s rows (SQLAlchemy's Row, as `execute` gives them), its columns' names
    in the subquery, and per column how its JSON value becomes its value."""
    keys = [c.key or f"c{i}" for i, c in enumerate(query.selected_columns)]
    names = [getattr(c, "name", None) or k for c, k in zip(query.selected_columns, keys, strict=True)]
    return result_tuple(keys), names, [_from_json(c.type) for c in query.selected_columns]


def _keep(value: Any) -> Any:
    return value


def _from_json(kind: Any) -> Callable[[Any], Any]:
    """JSON has no booleans on MySQL (TINYINT) and writes a whole float as an integer."""
    if isinstance(kind, Boolean):
        return lambda v: None if v is None else bool(v)
    if isinstance(kind, (Double, Float)):
        return lambda v: None if v is None else float(v)
    return _keep
