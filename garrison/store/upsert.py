"""INSERT … ON CONFLICT for both state databases (SQLite and PostgreSQL share the syntax, not the constructs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table


def upsert(c: Any, table: Table, rows: list[dict[str, Any]], keys: list[str], update: list[str] | None = None,
           add: list[str] | None = None) -> None:
    """Insert ``rows``; a row whose ``keys`` exist already updates ``update`` and adds to ``add`` (counters),
    or, with neither, is left as it is. One statement for all rows: one round trip to PostgreSQL."""
    if not rows:
        return
    if c.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt: Any = insert(table)
    if update or add:
        sets = {k: stmt.excluded[k] for k in update or ()}
        sets.update({k: table.c[k] + stmt.excluded[k] for k in add or ()})
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=sets)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    c.execute(stmt, rows)
