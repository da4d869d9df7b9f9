"""Event store: commits, rollups, compaction, retention; the search language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from garrison.errors import QueryError
from garrison.pipeline.runner import import_paths
from garrison.store import state as S
from garrison.store.query import compile_query
from garrison.store.search import histogram, search


@pytest.fixture
def loaded(data, store, pipeline):
    import_paths(pipeline, store, [data / "loghub/OpenSSH/OpenSSH_2k.log",
                                   data / "crowdsec-hub/tests/apache2-logs/apache2-logs.log"])
    return store


def test_rollups_match_events(loaded):
    with loaded.engine.connect() as c:
        rows = c.execute(select(S.daily_counts)).mappings().all()
    assert sum(r["n"] for r in rows) == loaded.stats()["events"] == search(loaded, "", count_only=True).count
    ssh_fail = sum(r["n"] for r in rows if r["dataset"] == "sshd" and r["outcome"] == "failure")
    assert ssh_fail == search(loaded, "event.dataset:sshd AND event.outcome:failure", count_only=True).count


@pytest.mark.parametrize("query,expected", [
    ("event.dataset:sshd", 2000),
    ('"Failed password" AND source.ip:173.234.31.186', None),
    ("user.name:root AND event.outcome:failure", None),
    ("event.dataset:sshd AND NOT event.outcome:failure", None),
    ("source.port>=40000 AND source.port<=60000", None),
    ("source.port:[40000 TO 60000]", None),
    ("url.path:/solr* OR http.response.status_code:500", None),
    ("sshd.auth_method:password", None),
    ("-event.dataset:sshd", 9),
])
def test_query_language(loaded, query, expected):
    n = search(loaded, query, count_only=True).count
    if expected is not None:
        assert n == expected
    else:
        assert n > 0


def test_query_semantics(loaded):
    ranged = search(loaded, "source.port:[40000 TO 60000]", count_only=True).count
    assert ranged == search(loaded, "source.port>=40000 AND source.port<=60000", count_only=True).count
    total = search(loaded, "event.dataset:sshd", count_only=True).count
    fail = search(loaded, "event.dataset:sshd AND event.outcome:failure", count_only=True).count
    notfail = search(loaded, "event.dataset:sshd AND NOT event.outcome:failure", count_only=True).count
    assert fail + notfail == total
    res = search(loaded, "user.name:ROOT event.outcome:failure", limit=5)
    assert res.events and all(e["user.name"] == "root" for e in res.events)
    assert all("event.original" in e and isinstance(e["@timestamp"], int) for e in res.events)
    # wildcards are literal inside quotes; % and _ are never wildcards
    assert search(loaded, 'url.path:"/solr*"', count_only=True).count == 0
    assert search(loaded, "url.path:%", count_only=True).count == 0


@pytest.mark.parametrize("bad,pos", [("user.name:(root", 10), ("a AND", 5), ("(a OR b", 7), ('"open', 0),
                                     ("source.port:abc", 12), ("x:[1 TO", 2)])
def test_malformed_query_points_at_position(bad, pos):
    with pytest.raises(QueryError) as e:
        compile_query(bad)
    assert e.value.position == pos, str(e.value)
    assert "^" in str(e.value)


def test_no_sql_injection(loaded):
    n = search(loaded, "user.name:\"x') OR 1=1 --\"", count_only=True).count
    assert n == 0
    with pytest.raises(QueryError):
        compile_query('na"me:1')


def test_histogram(loaded):
    res = search(loaded, "event.dataset:sshd", limit=None)
    ts = [e["@timestamp"] for e in res.events]
    h = histogram(loaded, "event.dataset:sshd", min(ts), max(ts) + 1, buckets=10)
    assert sum(n for _, n in h) == 2000


def test_compaction_and_retention(data, store, pipeline):
    for _ in range(3):
        import_paths(pipeline, store, [data / "loghub/OpenSSH/OpenSSH_2k.log"])
    before = store.stats()
    assert before["parts"] == 3 and before["events"] == 6000
    assert store.compact() == 1
    after = store.stats()
    assert after["parts"] == 1 and after["events"] == 6000
    assert search(store, "", count_only=True).count == 6000
    removed = store.apply_retention(30)
    assert removed == 1 and store.stats()["events"] == 0
    with store.engine.connect() as c:  # rollups outlive the raw events
        assert sum(r[0] for r in c.execute(select(S.daily_counts.c.n))) == 6000


def test_orphan_part_is_removed_on_open(tmp_path, store, pipeline, data):
    import_paths(pipeline, store, [data / "loghub/OpenSSH/OpenSSH_2k.log"])
    day = next((tmp_path / "events").iterdir())
    import os
    import time

    from garrison.store import EventStore

    old, fresh = day / "p-999999999999-000.parquet", day / "p-999999999998-000.parquet"
    old.write_bytes(b"half written")
    fresh.write_bytes(b"about to be recorded by a writer")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    EventStore(tmp_path, store.engine)  # e.g. 'garrison search' opening the store while 'serve' commits
    assert not old.exists() and fresh.exists()
    assert search(store, "", count_only=True).count == 2000
