"""Scale-out tables: which worker owns which partition of the bus (``garrison/pipeline/worker.py``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from garrison.store._meta import metadata


bus_workers = Table(
    "bus_workers", metadata,
    Column("name", String(128), primary_key=True),
    Column("seen_at", BigInteger, nullable=False),  # epoch us of its last heartbeat
    Column("started_at", BigInteger, nullable=False),
)

bus_leases = Table(
    "bus_leases", metadata,
    Column("partition", Integer, primary_key=True),
    Column("owner", String(128)),
    Column("expires_at", BigInteger, nullable=False, default=0),  # epoch us; a commit checks it is still ours
)

# Correlations grouped by something other than the source address (a user, a host, a dataset) see hits from every
# partition: each worker writes those hits here inside its commit, keyed by the partition of the correlation's
# group, and that partition's owner reads them in order and keeps the correlation's state (pipeline/handoff.py).
bus_handoffs = Table(
    "bus_handoffs", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),  # commit order
    Column("partition", Integer, nullable=False, index=True),
    Column("correlation", String(128), nullable=False),
    Column("ref", String(256), nullable=False),  # the rule (or inner correlation) the hit is of
    Column("ts", BigInteger, nullable=False),  # event time, epoch us
    Column("event", Text, nullable=False),  # JSON: the hit's event, its entity and group fields only
)

bus_handoff_marks = Table(
    "bus_handoff_marks", metadata,  # how far each partition's owner has read, committed with what it fired
    Column("partition", Integer, primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)
