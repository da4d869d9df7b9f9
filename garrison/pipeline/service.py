"""``garrison serve`` assembled in one place: the WAL, listeners, HTTP, processor and maintenance, supervised.

Every component has a state, a restart count and its last error, which ``/healthz`` reports.
A component that stops is restarted; one that keeps stopping, or a processor stuck on one
batch past the watchdog, makes the server exit non-zero so that its service manager
restarts it (the WAL and the in-flight marker make that safe). Health is never "ok" while
records wait longer than ``service.max_lag_seconds``, the WAL can't be written, or the disk
is nearly full; HTTP ingest then answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import smtplib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from sqlalchemy import Engine

from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.model import RawRecord
from garrison.pipeline.guard import describe
from garrison.pipeline.processor import Processor
from garrison.pipeline.runner import build_live_pipeline
from garrison.sources import Sinks, Source, build_sources
from garrison.store.events import EventStore
from garrison.store.wal import Wal, encode_record

log = logging.getLogger("garrison.service")


@dataclass
class Component:
    name: str
    state: str = "starting"  # starting | running | retrying | failed | stopped
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    _restart_times: deque[float] = field(default_factory=lambda: deque(maxlen=64))

    def failed(self, error: str) -> None:
        self.state, self.last_error, self.last_error_at = "failed", error, time.time()

    def view(self) -> dict[str, Any]:
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error,
                "last_error_at": self.last_error_at}


class HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request headers: a client that opens a connection and
    sends its headers a byte at a time (slowloris) is cut off after ``header_timeout`` seconds."""

    header_timeout = 10.0
    timeouts = 0  # class-wide counter, read by /healthz
    _deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._reading_headers() and self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._expire)
        super().data_received(data)
        if not self._reading_headers() and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _reading_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _expire(self) -> None:
        self._deadline = None
        if self._reading_headers() and not self.transport.is_closing():
            HeaderDeadline.timeouts += 1
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)


class Service:
    def __init__(self, config: Config, engine: Engine, store: EventStore):
        from garrison.respond.notify import Notifier

        self.cfg, self.engine, self.store = config, engine, store
        self.wal = Wal(config.data_path / "wal", min_free_bytes=config.ingest.min_free_bytes)
        self.notifier = Notifier(config.notify)
        self.components: dict[str, Component] = {"processor": Component("processor"), "wal": Component("wal"),
                                                 "http": Component("http"), "maintenance": Component("maintenance")}
        self.sources: list[Source] = []
        self.processor = self._new_processor()
        self.exit_code = 0
        self._server: uvicorn.Server | None = None
        self._stopping = False
        self._monthly: Any = None
        self._minutely: Any = None

    # -- sinks: the WAL, for listeners and HTTP ----------------------------------------------
    def durable_sink(self, records: list[RawRecord]) -> int:
        """HTTP ingest: on disk before the answer; raises ``Unavailable`` (503) when it can't be."""
        return self.wal.append([encode_record(r) for r in records], sync=True)

    def stream_sink(self, records: list[RawRecord]) -> int:
        """Syslog: fsynced within 0.2 s by the syncer."""
        return self.wal.append([encode_record(r) for r in records], sync=False)

    def _build_sources(self) -> list[Source]:
        return build_sources(self.cfg, Sinks(self.stream_sink, self.durable_sink))

    def _new_processor(self) -> Processor:
        s = self.cfg.store
        pipeline = build_live_pipeline(self.cfg, self.engine, self.notifier)
        return Processor(pipeline, self.store, self.wal, s.flush_seconds, s.batch_events,
                         self.cfg.service.commit_retry_max_seconds)

    # -- health ------------------------------------------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for /healthz."""
        sv = self.cfg.service
        p = self.processor
        lag_bytes, lag_s = self.wal.lag(p.offset)
        proc = self.components["processor"]
        proc.state = p.state if p.is_alive() or p.state in ("failed", "stopped") else proc.state
        if p.last_error:
            proc.last_error = p.last_error
        problems: list[str] = []
        if not p.is_alive():
            problems.append("the processor is not running")
        if lag_s > sv.max_lag_seconds:
            problems.append(f"records have waited {lag_s:.0f}s to be processed (service.max_lag_seconds "
                            f"{sv.max_lag_seconds:.0f})")
        if p.state == "retrying":
            problems.append(f"commits are failing: {p.last_error}")
        w = self.wal.stats
        wal = self.components["wal"]
        wal.state = "running" if self.wal.writable else "failed"
        wal.last_error, wal.last_error_at = w.last_error, w.last_error_at
        if not self.wal.writable:
            problems.append(f"the WAL cannot be written: {w.last_error}")
        free = self.wal.free_bytes()
        if free < self.cfg.ingest.min_free_bytes:
            problems.append(f"disk nearly full: {free:,} bytes free")
        for src in self.sources:
            if not src.running():
                problems.append(f"{src.name} is not taking input")
                self.components[src.name].state = "failed"
        comps = {n: c.view() for n, c in self.components.items()}
        comps["processor"].update(lag_bytes=lag_bytes, lag_seconds=round(lag_s, 3), offset=p.offset,
                                  commits=p.commits, commit_retries=p.retries,
                                  quarantined_crashes=p.quarantined_crashes,
                                  stage_failures=dict(p.pipeline.failures.batches),
                                  quarantined_by_stages=dict(p.pipeline.failures.events))
        comps["http"].update(header_timeouts=HeaderDeadline.timeouts)
        comps["wal"].update(failed_appends=w.failed_appends, skipped_bytes=w.skipped_bytes,
                            skipped_regions=w.skipped_regions, appended_frames=w.appended_frames)
        for src in self.sources:
            view = src.view()
            comps[src.name].update(view)
            problems.extend(f"{src.name}: {x}" for x in view.get("problems", []))  # e.g. a refused secret
        body = {"status": "failing" if problems else "ok", "problems": problems, "components": comps,
                "disk": {"free_bytes": free, "min_free_bytes": self.cfg.ingest.min_free_bytes}}
        return (503 if problems else 200), body

    # -- running -------------------------------------------------------------------------------
    async def run(self, app: Any, monthly: Any = None, minutely: Any = None) -> int:
        """Serve ``app`` (the web layer's, built on ``durable_sink`` and ``health``) until stopped; the exit code.

        ``monthly(engine, config)`` is the report layer's monthly mailing, run at each maintenance round;
        ``minutely(engine, config)`` the awareness programme's sending and reminders, run every minute."""
        cfg = self.cfg
        self._monthly = monthly
        self._minutely = minutely
        self.processor.start()
        self.components["processor"].state = "running"
        host, _, port = cfg.ingest.http.rpartition(":")
        self.sources = self._build_sources()
        for src in self.sources:
            self.components[src.name] = Component(src.name)
            await src.start()
            self.components[src.name].state = "running"
        protocol = type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": cfg.ingest.header_timeout})
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host or "127.0.0.1", port=int(port), log_level="warning", lifespan="off", http=protocol,
            timeout_keep_alive=5, h11_max_incomplete_event_size=64 * 1024, limit_concurrency=1000))
        self.components["http"].state = "running"
        tasks = [asyncio.create_task(t()) for t in (self._syncer, self._supervise, self._maintenance, self._every_minute)]
        if threading.current_thread() is threading.main_thread():
            # uvicorn re-raises SIGTERM/SIGINT once it has stopped; landing here instead of the default
            # handler lets the processor finish its batch and the WAL close: a clean stop exits 0.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: None)
        try:
            await self._server.serve()
        finally:
            self._stopping = True
            for t in tasks:
                t.cancel()
            for src in self.sources:
                await src.close()
            self.processor.stop()
            await asyncio.to_thread(self.processor.join, 30)
            self.wal.close()
        if self.exit_code == 0 and self.processor.error is not None:
            self.exit_code = 1
        return self.exit_code

    def stop(self, code: int = 0) -> None:
        self.exit_code = self.exit_code or code
        if self._server is not None:
            self._server.should_exit = True

    def _may_restart(self, c: Component, error: str) -> bool:
        """Count a restart; False when the component restarted too often and the server must exit."""
        sv = self.cfg.service
        now = time.monotonic()
        c.failed(error)
        c._restart_times.append(now)
        recent = sum(1 for t in c._restart_times if now - t < sv.restart_window_seconds)
        if recent > sv.max_restarts:
            log.critical("%s failed %d times in %.0fs (last: %s); stopping the server so that its service manager "
                         "restarts it", c.name, recent, sv.restart_window_seconds, error)
            self.stop(1)
            return False
        c.restarts += 1
        log.error("%s stopped (%s); restarting it", c.name, error)
        return True

    async def _supervise(self) -> None:
        sv = self.cfg.service
        while True:
            await asyncio.sleep(0.5)
            p = self.processor
            if not p.is_alive() and not self._stopping:
                err = p.last_error or "the processor thread ended"
                if not self._may_restart(self.components["processor"], err):
                    return
                try:
                    self.processor = await asyncio.to_thread(self._new_processor)
                    self.processor.start()
                    self.components["processor"].state = "running"
                except Exception as e:  # noqa: BLE001 - counted as another failure on the next round
                    log.error("processor could not be rebuilt: %s", describe(e))
            elif p.busy_since is not None and time.monotonic() - p.busy_since > sv.watchdog_seconds:
                log.critical("the processor has been stuck on one batch for %.0fs (service.watchdog_seconds); "
                             "exiting so that the batch is replayed record by record", sv.watchdog_seconds)
                self.wal.sync()
                os._exit(3)  # the thread can't be interrupted; the in-flight marker finds the record on restart
            for src in self.sources:
                if not src.running() and not self._stopping:
                    if not self._may_restart(self.components[src.name], "it stopped taking input"):
                        return
                    try:
                        await src.close()
                        await src.start()
                        self.components[src.name].state = "running"
                    except (OSError, GarrisonError) as e:
                        self.components[src.name].failed(f"cannot start again: {e}")
            if not self.wal.writable:
                await asyncio.to_thread(self._probe_disk)

    def _probe_disk(self) -> None:
        """While the WAL is failing, see whether the disk takes a write again (then ingest reopens)."""
        probe = self.wal.dir / ".probe"
        try:
            if self.wal.free_bytes() < self.cfg.ingest.min_free_bytes:
                return
            with open(probe, "wb") as f:
                f.write(b"x" * 4096)
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
            self.wal.writable = True
        except OSError:
            probe.unlink(missing_ok=True)

    async def _syncer(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(self.wal.sync)

    def _connector_upkeep(self) -> None:
        """Pulled records' ids older than any re-read window are forgotten; sign-in blocks past expiry lift."""
        from garrison.respond.identity import lift_expired_blocks
        from garrison.store.once import now_us, prune

        m = self.cfg.microsoft
        prune(self.engine, now_us() - (8 * 24 * 60 + m.overlap_minutes) * 60_000_000)  # the API keeps 7 days
        if m.tenant_id and m.actions:
            lifted = lift_expired_blocks(self.engine, self.cfg)
            if lifted:
                log.info("maintenance: %d sign-in block(s) expired and were lifted", lifted)

    async def _every_minute(self) -> None:
        """Scheduled work that cannot wait for the hourly round (a phishing simulation's send window)."""
        while self._minutely is not None:
            try:
                await asyncio.to_thread(self._minutely, self.engine, self.cfg)
            except Exception as e:  # noqa: BLE001 - retried next minute; the log says why
                log.warning("scheduled work failed: %s (retried next round)", describe(e))
            await asyncio.sleep(self.cfg.service.scheduler_seconds)

    async def _maintenance(self) -> None:
        cfg, c = self.cfg, self.components["maintenance"]
        c.state = "running"
        rounds = 0
        while True:
            await asyncio.sleep(cfg.service.maintenance_seconds)
            rounds += 1
            try:
                removed = await asyncio.to_thread(self.store.apply_retention, cfg.store.retention_days)
                days = await asyncio.to_thread(self.store.compact)
                log.info("maintenance: removed %d expired files, compacted %d days", removed, days)
                await asyncio.to_thread(self._connector_upkeep)
                if cfg.notify.digest != "daily" or rounds % 24 == 0:  # held notices: hourly, or the daily digest
                    await asyncio.to_thread(self.notifier.flush_digest)
                c.state = "running"
            except Exception as e:  # noqa: BLE001 - retried next round; health shows it meanwhile
                c.failed(describe(e))
                c.restarts += 1
                log.error("maintenance failed: %s (retried in %.0fs)", describe(e), cfg.service.maintenance_seconds)
            if self._monthly is None:
                continue
            try:
                await asyncio.to_thread(self._monthly, self.engine, cfg)
            except (OSError, smtplib.SMTPException, GarrisonError) as e:  # retried at the next round
                log.warning("monthly report not sent: %s (check notify.smtp_host and report.mail_to)", e)
