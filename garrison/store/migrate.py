"""Schema migrations of the state database with Alembic, on SQLite and PostgreSQL alike.

``garrison/store/migrations/versions`` holds the revisions; ``upgrade`` brings a database to the newest.
A data directory made before Alembic came in (its tables there, no ``alembic_version``) is brought up to
date in place and stamped, so that later revisions apply to it as to any other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    h = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert h is not None
    return h


def current(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as c:
        return c.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the state database to the newest revision (a no-op when it is there)."""
    want = head()
    have = current(engine)
    if have == want:
        return
    cfg = alembic_config()
    with engine.begin() as c:
        if c.dialect.name == "postgresql":  # two nodes starting at once: one migrates, the other waits
            c.execute(text("SELECT pg_advisory_xact_lock(7420001)"))
        cfg.attributes["connection"] = c
        if have is None and inspect(c).has_table("commits"):
            _legacy(c)
            command.stamp(cfg, "head")
        else:
            command.upgrade(cfg, "head")


def _legacy(c) -> None:  # type: ignore[no-untyped-def]
    """A data directory from before Alembic: add what is missing (tables, nullable columns), then stamp."""
    from garrison.store._meta import metadata

    metadata.create_all(c)
    insp = inspect(c)
    for table in metadata.sorted_tables:
        have = {col["name"] for col in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have and col.nullable:
                ddl = col.type.compile(dialect=c.dialect)
                c.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {ddl}'))
