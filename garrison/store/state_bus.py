"""Scale-out tables: which worker owns which partition of the bus (``garrison/pipeline/worker.py``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table

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
