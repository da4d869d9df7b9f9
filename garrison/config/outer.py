"""The configuration sections of the outer ring: the reporting mailbox, awareness, the cluster, scale-out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReportingConfig:
    """The mailbox staff forward suspicious mail to, read over IMAP (``garrison.sources.imap``); off until a host is given."""
    host: str = ""
    port: int = 993
    security: str = "tls"  # tls (implicit, port 993) | starttls | none (only on loopback)
    username: str = ""
    password_file: str | None = None  # or password_env; never written to logs
    password_env: str | None = None
    folder: str = "INBOX"
    ca_file: str | None = None  # a private CA for the IMAP server
    poll_seconds: float = 60.0
    max_message_bytes: int = 25 * 1024 * 1024  # larger reports are quarantined with the reason, not fetched
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class AwarenessConfig:
    """Phishing simulations and training (``garrison/awareness``); see docs/awareness.md."""
    base_url: str = "http://127.0.0.1:8080"  # where staff's browsers reach the landing and training pages (/t/, /training/)
    organisation: str = "the council"  # $org in templates
    from_domain: str = "notices.example"  # the simulations' sending domain (one you own, allow-listed at the gateway)
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | tls
    smtp_username: str = ""
    smtp_password_file: str | None = None  # or smtp_password_env; never written to logs
    smtp_password_env: str | None = None
    timezone: str = "Europe/London"
    working_hours: str = "09:00-17:00"  # messages go out only then, Monday to Friday
    token_days: int = 14  # a recipient's link works this long
    training_days: int = 14  # to complete an assigned module
    reminder_days: int = 3  # between reminders of overdue training
    pass_mark: int = 70  # percent of quiz answers right that completes a module
    submit_risk: int = 25  # risk a user carries after submitting credentials in a simulation (decays as any risk)
    trusted_proxies: list[str] = field(default_factory=list)  # reverse proxies whose X-Forwarded-For names the visitor
    staff: str | None = None  # CSV of everyone (email, name, department), for scheduled training
    schedule: list[dict[str, Any]] = field(default_factory=list)  # [{module: passwords_mfa, every_days: 365}]: to all staff


@dataclass(frozen=True)
class ClusterConfig:
    """The regional cluster (``garrison/cluster``): ``hub`` serves TAXII 2.1 to the members it issued keys to."""
    role: str = "off"  # off | hub (a hub's own organisation is also a member: give it hub_url, member and key_file too)
    title: str = "Regional cyber-security cluster"
    hub_url: str = ""  # a member: where the hub is; garrison serve then pushes and polls every sync_seconds
    member: str = ""  # our member name on the hub
    key_file: str | None = None  # the key the hub issued (never in the YAML itself)
    sync_seconds: float = 60.0
    share: list[str] = field(default_factory=lambda: ["bans", "phishing"])  # the sharing policy: what leaves us at all
    # (add "incidents" to share sanitised incident summaries: their ATT&CK technique chains, nothing else)
    chain_min: int = 3  # the hub: techniques two members' chains share, in order, for one cluster incident
    chain_similarity: float = 0.6  # ... and that share of the longer chain
    chain_days: float = 7.0  # ... within this many days
    tlp: str = "amber"  # TLP 2.0 level of what we share: clear, green, amber, amber+strict, red
    adopt_bans: bool = True  # other members' banned attackers are banned here too (never our own or partners' ranges)
    adopt_hours: float = 24.0  # for how long, when the member gave no expiry
    # public feeds subscribed to: [{name, url, kind: misp|taxii|list, every_hours: 6, expire_days: 7, trust: medium,
    # user, key_file}]; each is fetched into data/intel/feeds/NAME.csv with its expiry and trust (docs/cluster.md)
    feeds: list[dict[str, Any]] = field(default_factory=list)
    max_content_bytes: int = 10 * 1024 * 1024  # one push
    page_size: int = 500  # objects per TAXII page at most


@dataclass(frozen=True)
class BusConfig:
    """Scale-out (``garrison serve --role ingest|worker``): records travel on a NATS JetStream stream."""
    url: str = ""  # nats://host:4222 (several, comma-separated); empty: the embedded WAL, one machine
    stream: str = "GARRISON"
    subject: str = "garrison.records"  # records go to SUBJECT.<organisation>.<partition>
    partitions: int = 8  # each owned by one worker at a time, so a correlation's state lives in one place
    replicas: int = 1  # JetStream replicas of the stream (3 on a three-server NATS cluster)
    max_age_days: float = 7.0  # what no worker took within this is dropped by JetStream (and shows as lag first)
    ack_wait_seconds: float = 30.0  # a batch not acknowledged by then is delivered again
    lease_seconds: float = 10.0  # a worker silent this long loses its partitions to the others
    publish_timeout_seconds: float = 10.0
    max_message_bytes: int = 512 * 1024  # records are grouped per partition into messages up to this size
    fetch_records: int = 20_000  # one worker batch at most
    # A worker that takes over partitions replays their stored events of this much event time (at least twice
    # the longest correlation timespan loaded) to rebuild correlation state before it goes on. A count that
    # fires and starts again has a phase: only a replay from before the attacker's activity began gives
    # the very detections one machine would have, hence a day (docs/scale.md)
    warm_minutes: float = 1440.0
