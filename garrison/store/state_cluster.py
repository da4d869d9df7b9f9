"""State of the cluster hub (``garrison/cluster``): members and their keys, the STIX objects members shared (the
TAXII collections), and the status of each push."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from garrison.store._meta import metadata

cluster_members = Table(
    "cluster_members", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of a 256-bit random key: never the key
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger),
)

cluster_objects = Table(
    "cluster_objects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order of adding: TAXII's paging key
    Column("collection", String(64), nullable=False, index=True),
    Column("stix_id", String(128), nullable=False, index=True),
    Column("type", String(64), nullable=False),
    Column("version", String(32), nullable=False),  # the object's modified time
    Column("added_at", BigInteger, nullable=False, index=True),
    Column("member", String(128), nullable=False),
    Column("body", Text, nullable=False),
)

cluster_status = Table(
    "cluster_status", metadata,
    Column("id", String(64), primary_key=True),
    Column("member", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("total", Integer, nullable=False),
    Column("success", Integer, nullable=False),
    Column("failure", Integer, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: the objects refused and why
)

cluster_sightings = Table(
    "cluster_sightings", metadata,  # the hub's memory of who saw what: correlation across members
    Column("value", String(512), primary_key=True),  # an indicator's value (an address, a domain)
    Column("member", String(128), primary_key=True),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("incident_at", BigInteger),  # when a cluster incident last named this value
)

