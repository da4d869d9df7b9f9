"""Garrison's state database: SQLAlchemy Core tables on SQLite (embedded) or PostgreSQL.

It holds the event store's manifest and commit log, the daily rollups, the
quarantine and the ingest tokens. Later stages add their own tables here.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.pool import NullPool
from sqlalchemy import (
    BigInteger, Column, Engine, Integer, String, Table, Text, create_engine, event,
)

from garrison.store._meta import metadata

commits = Table(
    "commits", metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("wal_offset", BigInteger),  # WAL position up to which records are stored; NULL for imports
    Column("next_event_id", BigInteger, nullable=False),
    Column("committed_at", BigInteger, nullable=False),  # epoch us
    Column("events", Integer, nullable=False),
    Column("rejects", Integer, nullable=False),
)

parts = Table(
    "parts", metadata,
    Column("path", String(512), primary_key=True),  # relative to the data dir
    Column("day", String(10), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("min_ts", BigInteger),
    Column("max_ts", BigInteger),
)

daily_counts = Table(
    "daily_counts", metadata,
    Column("day", String(10), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
    Column("input_type", String(64), primary_key=True),
    Column("dataset", String(128), primary_key=True),
    Column("outcome", String(32), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

source_health = Table(
    "source_health", metadata,
    Column("source", String(512), primary_key=True),
    Column("input_type", String(64)),
    Column("last_event_at", BigInteger),  # epoch us, ingest time
    Column("events", BigInteger, nullable=False, default=0),
    Column("rejects", BigInteger, nullable=False, default=0),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(512), nullable=False, index=True),
    Column("position", BigInteger),
    Column("byte_offset", BigInteger),
    Column("format", String(64)),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),  # the first store.quarantine_raw_bytes characters
    Column("raw_bytes", BigInteger),  # the whole record's length
    Column("raw_sha256", String(64)),  # and its hash: the whole record can be matched without keeping it
)

ingest_tokens = Table(
    "ingest_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("token_hash", String(128), nullable=False, unique=True),  # sha256 of a 256-bit random token
    Column("organization_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("scopes", String(64), nullable=False, default="ingest"),  # ingest | api (decisions, exports)
)


rulesets = Table(
    "rulesets", metadata,
    Column("name", String(128), primary_key=True),
    Column("path", String(1024), nullable=False),
    Column("source", String(2048), nullable=False),  # the zip file or URL it came from
    Column("enabled", Integer, nullable=False, default=1),
    Column("installed_at", BigInteger, nullable=False),
    Column("family", String(128)),  # versions of one rule set (sigmahq-core); one of them is enabled at a time
    Column("version", String(128)),  # the release it came from (a tag such as r2025-06-02, or a checksum)
    Column("sha256", String(64)),
)

rule_state = Table(
    "rule_state", metadata,
    Column("rule_id", String(128), primary_key=True),  # a rule's id (or name)
    Column("enabled", Integer, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
)

detections = Table(
    "detections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", BigInteger, nullable=False, index=True),  # event time, epoch us
    Column("day", String(10), nullable=False, index=True),
    Column("organization_id", String(64), nullable=False),
    Column("rule_id", String(128), nullable=False, index=True),
    Column("rule_title", String(512), nullable=False),
    Column("level", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tags", Text, nullable=False),  # JSON list
    Column("event_id", BigInteger),  # the matching (last) event in the event store
    Column("evidence", Text),  # JSON list of event ids (correlations)
    Column("group_values", Text),  # JSON (correlations)
    Column("source_ip", String(64), index=True),
    Column("user_name", String(256), index=True),
    Column("host_name", String(256)),
    Column("destination_ip", String(64)),
    Column("decision_id", Integer, index=True),  # the decision in force that blocked this attempt, if any
    Column("suppression_id", Integer),  # kept, but silenced by this suppression
    Column("category", String(32)),  # the attempt category (reports); NULL for correlations
    Column("blocked", Integer),  # 1 when the attempt was stopped (a ban in force, or the logging device)
)


decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("value", String(256), nullable=False, index=True),
    Column("origin", String(16), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("until", BigInteger, nullable=False, index=True),
    Column("deleted_at", BigInteger),
    Column("updated_at", BigInteger, nullable=False, index=True),  # for incremental refresh of in-memory views
    Column("simulated", Integer, nullable=False, default=0),
    Column("organization_id", String(64), nullable=False),
    Column("author", String(128)),
    Column("rule_id", String(128)),
    Column("event_id", BigInteger),
    Column("offence", Integer, nullable=False, default=1),
)

bouncers = Table(
    "bouncers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("key_hash", String(128), nullable=False, unique=True),  # sha256 of a 256-bit random key
    Column("created_at", BigInteger, nullable=False),
    Column("last_pull", BigInteger),
    Column("ip_address", String(64)),
    Column("user_agent", String(256)),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256)),
    Column("detail", Text),
)


suppressions = Table(
    "suppressions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # rule | entity | field
    Column("rule_id", String(128)),  # kind rule: this rule; kind entity/field: optionally only this rule
    Column("field", String(128)),  # kind entity: source.ip / user.name / host.name; kind field: any event field
    Column("value", String(512)),
    Column("reason", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("until", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("incident_id", Integer),
    Column("hits", BigInteger, nullable=False, default=0),
)

daily_attempts = Table(
    "daily_attempts", metadata,
    Column("day", String(10), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
    Column("category", String(32), primary_key=True),  # password_guessing scan web_attack phishing malware other
    Column("outcome", String(16), primary_key=True),  # blocked | not_blocked
    Column("n", BigInteger, nullable=False),
)

daily_origins = Table(
    "daily_origins", metadata,  # where attempts come from, for the reports
    Column("day", String(10), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
    Column("country", String(8), primary_key=True),  # ISO code, '' unknown or internal
    Column("network", String(128), primary_key=True),  # AS organisation name, '' unknown
    Column("n", BigInteger, nullable=False),
)

daily_sources = Table(
    "daily_sources", metadata,  # attempts per attacking address and day: the console's top sources
    Column("day", String(10), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
    Column("ip", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

daily_rule_hits = Table(
    "daily_rule_hits", metadata,  # detections per rule and day (correlations included): the rules page
    Column("day", String(10), primary_key=True),
    Column("rule_id", String(128), primary_key=True),
    Column("level", String(16), primary_key=True),  # a detector's level can vary with the outcome
    Column("n", BigInteger, nullable=False),
)

source_minutes = Table(
    "source_minutes", metadata,  # events stored per source and minute of arrival, the last hour only
    Column("source", String(512), primary_key=True),
    Column("minute", BigInteger, primary_key=True),  # epoch minutes
    Column("n", BigInteger, nullable=False),
    Column("rejects", BigInteger, nullable=False, default=0),
)

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(512), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="new"),  # new investigating contained resolved closed
    Column("outcome", String(32)),  # tp_breach tp_stopped benign false_positive
    Column("assignee", String(128)),
    Column("organization_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("updated_at", BigInteger, nullable=False),
    Column("first_seen", BigInteger, nullable=False),  # event time of the first evidence
    Column("last_seen", BigInteger, nullable=False),
    Column("raised_at", BigInteger),  # event time of the detection that raised it (time to detect)
    Column("contained_at", BigInteger),  # wall time it was first set contained/resolved/closed (time to contain)
    Column("closed_at", BigInteger),
    Column("risk", Integer, nullable=False, default=0),
    Column("reason", String(256), nullable=False),  # why it was raised: risk threshold, critical rule, ...
    Column("title_rank", Integer),  # how telling the detection that names the incident is (triage.incidents)
)

incident_entities = Table(
    "incident_entities", metadata,
    Column("incident_id", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),  # ip user host
    Column("value", String(256), primary_key=True, index=True),
)

incident_detections = Table(
    "incident_detections", metadata,
    Column("incident_id", Integer, primary_key=True),
    Column("detection_id", Integer, primary_key=True),
)

incident_comments = Table(
    "incident_comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False, index=True),
    Column("author", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)

# Pulled sources (Microsoft's APIs): how far each stream has been read, and the record ids already stored,
# both written in the commit that stores the records, so a restart neither loses nor doubles one.
connector_state = Table(
    "connector_state", metadata,
    Column("stream", String(128), primary_key=True),
    Column("checkpoint", BigInteger, nullable=False),  # event time (epoch us) read up to
    Column("updated_at", BigInteger, nullable=False),
)

seen_records = Table(
    "seen_records", metadata,
    Column("stream", String(128), primary_key=True),
    Column("record_id", String(256), primary_key=True),
    Column("ts", BigInteger, nullable=False, index=True),  # when it was stored (pruned after the overlap window)
)

# Response actions on identities through Microsoft Graph (revoke sessions, block sign-in, ...): asked by a
# policy, done by an analyst or automatically, refused for protected accounts, simulated in dry-run.
identity_actions = Table(
    "identity_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(32), nullable=False),
    Column("user", String(256), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # asked done failed refused simulated lifted
    Column("reason", String(512), nullable=False),
    Column("origin", String(16), nullable=False),  # policy analyst
    Column("incident_id", Integer, index=True),
    Column("detail", Text),  # JSON: rule id of an inbox rule, the policy's name
    Column("asked_at", BigInteger, nullable=False),
    Column("done_at", BigInteger),
    Column("done_by", String(128)),
    Column("until", BigInteger),  # a sign-in block lifts itself then
    Column("error", String(512)),
)

entity_risk = Table(
    "entity_risk", metadata,
    Column("kind", String(16), primary_key=True),
    Column("value", String(256), primary_key=True),
    Column("score", Integer, nullable=False),  # before decay, as of updated_at
    Column("updated_at", BigInteger, nullable=False),  # event time
    Column("state", Text, nullable=False),  # JSON: {"rules": {rule_id: last_ts}, "tactics": [...]}
)


users = Table(
    "users", metadata,  # console accounts
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(256)),  # argon2id; NULL for single-sign-on-only accounts
    Column("role", String(16), nullable=False),  # admin | analyst | viewer
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger),
    Column("last_login", BigInteger),
    Column("sso_subject", String(256), unique=True),  # the OpenID Connect 'sub' (issuer|sub)
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of a 256-bit random cookie value
    Column("user_id", Integer, nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("ip", String(64)),
)

reports = Table(
    "reports", metadata,  # the archive of generated reports (files under DATA/reports)
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("period_start", String(10), nullable=False),
    Column("period_end", String(10), nullable=False),
    Column("label", String(128), nullable=False),
    Column("format", String(8), nullable=False),
    Column("path", String(512), nullable=False),  # relative to the data dir
    Column("author", String(128), nullable=False),  # a user, or 'schedule'
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_state(url_or_dir: str | Path) -> Engine:
    """Open (and create) the state database: a directory means embedded SQLite inside it."""
    s = str(url_or_dir)
    if "://" not in s:
        Path(s).mkdir(parents=True, exist_ok=True)
        s = f"sqlite:///{Path(s) / 'state.db'}"
    # SQLite: no pooled connections kept open. A connection opened while the disk was read-only or full keeps
    # failing after the disk is back (and SQLite shares its file state between a process's connections),
    # so each use opens afresh; opening costs ~0.1 ms against a commit's milliseconds.
    engine = create_engine(s, future=True, poolclass=NullPool) if s.startswith("sqlite") else create_engine(s, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    from garrison.store import state_awareness, state_bus, state_cluster  # noqa: F401 - their tables join the metadata
    from garrison.store.migrate import upgrade

    upgrade(engine)
    return engine
