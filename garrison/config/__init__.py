"""Configuration: one typed, frozen section per stage, loaded from YAML.

Unknown keys are errors, so a typo never silently changes behaviour.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import os
from pathlib import Path
from typing import Any

import yaml

from garrison.config.outer import AwarenessConfig, BusConfig, ClusterConfig, ReportingConfig
from garrison.errors import ConfigError


@dataclass(frozen=True)
class StoreConfig:
    retention_days: int = 400
    write_compression_level: int = 3  # zstd level of fresh parts: fast
    compression_level: int = 9  # zstd level when a day's parts are compacted: small
    flush_seconds: float = 1.0  # how often the live pipeline commits a batch
    batch_events: int = 50_000
    quarantine_raw_bytes: int = 64 * 1024  # text kept per quarantined record (with its length and SHA-256)
    by_organization: bool = False  # events/org=O/day=D/ instead of events/day=D/: a store several organisations share


@dataclass(frozen=True)
class IngestConfig:
    syslog_udp: str | None = "127.0.0.1:5514"
    syslog_tcp: str | None = "127.0.0.1:5514"
    syslog_tls: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    http: str = "127.0.0.1:8080"
    max_line_bytes: int = 256 * 1024
    max_body_bytes: int = 16 * 1024 * 1024  # one HTTP/HEC request body
    max_event_bytes: int = 1024 * 1024  # one HEC event (max_line_bytes bounds a line)
    min_free_bytes: int = 256 * 1024 * 1024  # below this free on the data disk, ingest answers 503
    min_year: int = 1970  # event times outside these years are quarantined
    max_year: int = 2100
    max_depth: int = 32  # nesting of objects and lists inside one field
    max_syslog_connections: int = 512  # syslog TCP/TLS connections at once
    header_timeout: float = 10.0  # seconds a client may take to send request headers
    body_timeout: float = 60.0  # seconds a client may take to send a body
    max_decompressed_bytes: int = 16 * 1024**3  # one .gz file or zip member, decompressed
    max_compression_ratio: int = 1000  # decompressed/compressed beyond this is a bomb


@dataclass(frozen=True)
class EnrichConfig:
    geoip: bool = True  # the country/AS database shipped with geoip2fast
    maxmind_country: str | None = None  # a GeoLite2/GeoIP2 Country or City .mmdb
    maxmind_asn: str | None = None  # a GeoLite2/GeoIP2 ASN .mmdb (gives source.as.number)
    inventory: str | None = None  # YAML or CSV, see docs/inventory.md
    intel: list[str] = field(default_factory=list)  # indicator files or folders: CSV, plain lists, STIX 2.1, MISP
    own_domains: list[str] = field(default_factory=list)  # mail domains of the organisation (forwarding rules)


@dataclass(frozen=True)
class ParseConfig:
    field_maps: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {json key: ECS name}


@dataclass(frozen=True)
class SigmaConfig:
    enabled: bool = True
    rule_dirs: list[str] = field(default_factory=list)  # extra rule folders, beside installed rule sets
    builtin_pack: bool = True  # Garrison's own rule pack
    placeholders: dict[str, list[str]] = field(default_factory=dict)  # for the 'expand' modifier
    logsources: str | None = None  # a routing file replacing the built-in one
    max_groups: int = 100_000  # correlation state: groups kept per correlation rule
    # ``garrison rules update``: where SigmaHQ's release packages come from ({asset} is the package's file name;
    # a mirror or an internal web server for air-gapped sites), and the API that publishes their checksums
    update_url: str = "https://github.com/SigmaHQ/sigma/releases/latest/download/{asset}"
    update_api: str = "https://api.github.com"
    update_package: str = "core"  # core, core+, core++, emerging or all (SigmaHQ's release packages)


@dataclass(frozen=True)
class TravelConfig:
    """Impossible travel and new-country sign-ins (``detect/detectors/travel.py``)."""

    enabled: bool = True
    speed_kmh: float = 900.0  # faster than an airliner between two sign-ins: impossible
    min_km: float = 500.0
    no_coords_hours: float = 1.0  # countries without coordinates: a change within this time
    learn: int = 5  # sign-ins seen before a new country counts
    max_users: int = 200_000


@dataclass(frozen=True)
class BeaconConfig:
    """Regular connections from inside to one outside address (``detect/detectors/beacon.py``)."""

    enabled: bool = True
    min_count: int = 12
    keep: int = 24
    min_interval_s: float = 10
    max_interval_s: float = 3600
    max_jitter: float = 0.1
    quiet_hours: float = 6
    max_pairs: int = 200_000


@dataclass(frozen=True)
class MailConfig:
    """The verdict on analysed email (reported phishing, ``garrison mail analyze``); see docs/mail.md."""

    enabled: bool = True
    partner_domains: list[str] = field(default_factory=list)  # look-alikes of these are phishing too (own: enrich.own_domains)
    model: str | None = None  # a model from `garrison mail train`, instead of the one shipped
    new_domain_days: int = 30  # a sender's domain first seen in our mail logs this recently is a signal


@dataclass(frozen=True)
class DetectConfig:
    sigma: SigmaConfig = field(default_factory=SigmaConfig)
    travel: TravelConfig = field(default_factory=TravelConfig)
    beacon: BeaconConfig = field(default_factory=BeaconConfig)
    mail: MailConfig = field(default_factory=MailConfig)


DEFAULT_STAGES = ["once", "geo", "inventory", "sigma", "web", "travel", "beacon", "mailbox", "phish", "simulations", "intel",
                  "suppress", "respond", "triage"]


@dataclass(frozen=True)
class PipelineConfig:
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))  # names in garrison.pipeline.components


@dataclass(frozen=True)
class PolicyConfig:
    name: str
    type: str = "ban"
    duration: str = "4h"
    target: str = "source.ip"  # or user.name
    min_level: str = "high"  # detections at or above this level
    rules: list[str] = field(default_factory=list)  # only these rule ids or titles (empty: any)
    tags: list[str] = field(default_factory=list)  # only detections with one of these tags
    mode: str = "ask"  # identity actions (revoke_sessions, ...): ask an analyst, or auto


# Garrison's brute-force correlations (detect/rules/authentication): 5 failures in 10 minutes, 6 in a minute,
# SSH handshakes dropped in a burst. fail2ban bans such a source for 10 minutes, CrowdSec for 4 hours; the
# first ban here is short and each repeat within 30 days doubles it (respond.escalation_factor).
MFA_FATIGUE_RULE = "9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d23"
BRUTE_FORCE_RULES = ["9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d10", "9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d15"]


def _default_policies() -> list[dict[str, object]]:
    return [{"name": "ban sources of high and critical detections", "min_level": "high", "duration": "4h"},
            {"name": "ban brute-force sources", "min_level": "medium", "rules": list(BRUTE_FORCE_RULES),
             "duration": "15m"},
            # Only with Microsoft's connector configured: waits on the incident for an analyst's click.
            {"name": "revoke the sessions of an account that gave in to MFA fatigue", "type": "revoke_sessions",
             "target": "user.name", "min_level": "high", "rules": [MFA_FATIGUE_RULE], "mode": "ask"}]


@dataclass(frozen=True)
class RespondConfig:
    enabled: bool = True
    dry_run: bool = False  # record what would be banned, enforce nothing
    max_auto_bans_per_minute: int = 60  # circuit breaker
    escalation_factor: float = 2.0  # a repeat offender's next ban lasts this much longer
    max_duration: str = "30d"
    policies: list[dict[str, object]] = field(default_factory=_default_policies)
    export_token: str | None = None  # bearer token for the blocklist export URLs (tokens work too)


@dataclass(frozen=True)
class NotifyConfig:
    min_level: str = "high"
    max_per_hour: int = 20  # beyond this, notices wait for the digest
    digest: str = "none"  # none | daily
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "garrison@localhost"
    mail_to: list[str] = field(default_factory=list)
    teams_webhooks: list[str] = field(default_factory=list)
    slack_webhooks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TriageSettings:
    """Risk and incident settings (the formula is in ``garrison/triage/risk.py``)."""
    threshold: float = 150.0  # effective risk that raises an incident
    chain_tactics: int = 3  # distinct ATT&CK tactics on one entity (one post-compromise) that raise an incident
    half_life_hours: float = 24.0
    dedupe_minutes: float = 60.0  # the same rule on the same entity adds risk once in this time
    tactic_bonus: float = 0.2
    failed_factor: float = 0.25  # weight of an attempt that failed (refused, denied, banned)
    points: dict[str, int] = field(default_factory=dict)  # per level, over the defaults


@dataclass(frozen=True)
class ReportConfig:
    organization_name: str = "Your organisation"
    logo: str | None = None  # an image file for the report's header
    mail_to: list[str] = field(default_factory=list)  # the monthly report goes here (SMTP from notify)
    monthly_day: int = 1  # day of the month on which garrison serve sends last month's report


@dataclass(frozen=True)
class WebConfig:
    secure_cookies: bool = True  # browsers send Secure cookies to https and to localhost only
    oidc_issuer: str | None = None  # e.g. https://login.microsoftonline.com/TENANT/v2.0
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None  # https://garrison.council.example/console/oidc/callback
    oidc_default_role: str = "viewer"  # the role of an account created at its first single sign-on
    oidc_allowed_domains: list[str] = field(default_factory=list)  # e-mail domains allowed in (empty: any)


@dataclass(frozen=True)
class ServiceConfig:
    """How ``garrison serve`` supervises its components and judges its own health."""

    max_lag_seconds: float = 120.0  # /healthz answers 503 when the oldest unprocessed record waited longer
    watchdog_seconds: float = 600.0  # a processor stuck this long on one batch: the server exits (non-zero)
    max_restarts: int = 5  # restarts of one component within restart_window_seconds before the server exits
    restart_window_seconds: float = 600.0
    maintenance_seconds: float = 3600.0
    commit_retry_max_seconds: float = 30.0  # backoff ceiling for a commit that fails (disk full, read-only)
    scheduler_seconds: float = 60.0  # how often scheduled work runs (a phishing simulation's send window)


O365_CONTENT_TYPES = ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]
GRAPH_STREAMS = ["signIns", "directoryAudits", "alerts", "riskyUsers"]


@dataclass(frozen=True)
class MicrosoftConfig:
    """Microsoft 365 and Entra ID pulled from their APIs (``garrison.sources.microsoft``); off until a tenant
    and an app registration are given."""
    tenant_id: str = ""
    client_id: str = ""
    client_secret_file: str | None = None  # or client_secret_env; never written to logs
    client_secret_env: str | None = None
    certificate_file: str | None = None  # PEM holding the private key and its certificate, instead of a secret
    login_url: str = "https://login.microsoftonline.com"  # sovereign clouds: login.microsoftonline.us, ...
    manage_url: str = "https://manage.office.com"  # GCC: manage-gcc.office.com; GCC High: manage.office365.us
    graph_url: str = "https://graph.microsoft.com"  # GCC High: graph.microsoft.us; 21Vianet: microsoftgraph.chinacloudapi.cn
    ca_file: str | None = None  # a private CA for these hosts (a TLS-inspecting proxy; the tests' stand-in)
    content_types: list[str] = field(default_factory=lambda: list(O365_CONTENT_TYPES))
    graph: list[str] = field(default_factory=lambda: list(GRAPH_STREAMS))
    poll_seconds: float = 60.0
    overlap_minutes: int = 30  # each round re-reads this much before its checkpoint: late records are not lost
    first_hours: int = 24  # how far back a new stream starts (at most 168: the Management API keeps 7 days)
    requests_per_minute: int = 600
    page_size: int = 500
    timeout_seconds: float = 30.0
    actions: bool = False  # response actions through Graph (needs the write permissions in the README)
    protected_accounts: list[str] = field(default_factory=list)  # never acted on: break-glass, service accounts


@dataclass(frozen=True)
class Config:
    data_dir: str = "./garrison-data"
    organization: str = "default"
    state_url: str | None = None  # PostgreSQL URL when scaled out; default SQLite in data_dir
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    parse: ParseConfig = field(default_factory=ParseConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    respond: RespondConfig = field(default_factory=RespondConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    triage: TriageSettings = field(default_factory=TriageSettings)
    report: ReportConfig = field(default_factory=ReportConfig)
    web: WebConfig = field(default_factory=WebConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    microsoft: MicrosoftConfig = field(default_factory=MicrosoftConfig)
    reporting: ReportingConfig = field(default_factory=ReportingConfig)
    awareness: AwarenessConfig = field(default_factory=AwarenessConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    bus: BusConfig = field(default_factory=BusConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = fields[name].default_factory() if fields[name].default_factory is not dataclasses.MISSING else None  # type: ignore[misc,operator]
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def read_secret_from(file: str | None, env: str | None, where: str) -> str | None:
    """A secret from its file or environment variable (never from the YAML itself); ``where`` names the setting."""
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{where}_file: cannot read {file}: {e.strerror}") from e
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}_env: {env} is not set")
        return value
    return None


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read a YAML config file (or defaults) and apply top-level overrides such as data_dir."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"{p}: cannot read config: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML: {e}") from e
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(Config, data, str(path or "config"))  # type: ignore[no-any-return]
