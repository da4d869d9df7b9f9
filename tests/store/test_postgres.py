"""The state database on PostgreSQL: the same models, Alembic's migrations, the same results as SQLite, and
commits from several workers at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, select

from garrison.config import load_config
from garrison.pipeline.runner import build_live_pipeline, import_paths
from garrison.simulate.demo import write_demo_logs
from garrison.store import EventStore, open_state
from garrison.store import state as S
from garrison.store._meta import metadata
from garrison.store.migrate import current, head


def _drift(engine) -> list:
    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_build_exactly_the_models(kind, tmp_path, postgres):
    """Alembic's revisions and the SQLAlchemy models agree: a change to a table needs its revision."""
    engine = open_state(postgres.create_database(f"mig_{tmp_path.name[-8:].lower()}") if kind == "postgresql"
                        else tmp_path)
    assert current(engine) == head()
    assert _drift(engine) == []
    open_state(engine.url.render_as_string(hide_password=False) if kind == "postgresql" else tmp_path)  # again: no-op
    assert current(engine) == head()


def test_a_directory_from_before_migrations_is_brought_up_and_stamped(tmp_path):
    old = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    metadata.create_all(old)
    with old.begin() as c:
        c.exec_driver_sql('ALTER TABLE incidents DROP COLUMN title_rank')  # a column added later
        c.exec_driver_sql("INSERT INTO users (name, role, created_at, disabled, failed_logins) "
                          "VALUES ('kept', 'admin', 1, 0, 0)")
    engine = open_state(tmp_path)
    assert current(engine) == head()
    assert _drift(engine) == []
    with engine.connect() as c:
        assert c.execute(select(S.users.c.name)).scalars().all() == ["kept"]


def _run(tmp_path, name, state_url, logs):
    d = tmp_path / name
    cfg = load_config(None, data_dir=str(d), state_url=state_url)
    engine = open_state(state_url or d)
    store = EventStore(d, engine)
    import_paths(build_live_pipeline(cfg, engine), store, logs, batch_size=5000)
    with engine.connect() as c:
        return {
            "counts": sorted(tuple(r) for r in c.execute(select(S.daily_counts))),
            "rules": Counter(r[0] for r in c.execute(select(S.detections.c.rule_id))),
            "incidents": sorted((r.title, r.severity) for r in c.execute(select(S.incidents))),
            "bans": sorted(r[0] for r in c.execute(select(S.decisions.c.value))),
            "events": store.stats()["events"],
        }


def test_postgres_gives_the_same_detections_incidents_and_rollups_as_sqlite(tmp_path, postgres):
    """A simulated council day (real attack shapes and noise) through the whole pipeline, once on each."""
    logs = write_demo_logs(tmp_path / "logs", seed=11, now=1_780_000_000)
    lite = _run(tmp_path, "lite", None, logs)
    pg = _run(tmp_path, "pg", postgres.create_database("same_results"), logs)
    assert lite["events"] > 10_000 and lite["incidents"] and lite["bans"]
    assert pg == lite


def test_workers_committing_at_once_get_their_own_sequence_ids_and_files(tmp_path, postgres):
    engine = open_state(postgres.create_database("race"))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        store = EventStore(tmp_path, open_state(engine.url.render_as_string(hide_password=False)))
        try:
            for i in range(25):
                store.commit([{"@timestamp": 1_780_000_000_000_000 + i, "message": f"w{n}-{i}-{j}",
                               "organization.id": f"org{n}"} for j in range(40)])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as c:
        commits = c.execute(select(S.commits.c.seq, S.commits.c.next_event_id, S.commits.c.events)
                            .order_by(S.commits.c.seq)).all()
        files = c.execute(select(func.count(), func.sum(S.parts.c.rows))).one()
    assert [r.seq for r in commits] == list(range(1, 76))
    starts = [r.next_event_id - r.events for r in commits]
    assert starts == [1 + 40 * i for i in range(75)]  # each commit took the next id range, no overlap
    assert files == (75, 3000)
    store = EventStore(tmp_path, engine)
    import duckdb

    got = duckdb.connect().execute('SELECT count(DISTINCT "event.id"), count(*) FROM read_parquet(?)',
                                   [store.files()]).fetchone()
    assert got == (3000, 3000)
