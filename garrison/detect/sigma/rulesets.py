"""Rule sets: installed SigmaHQ release packages (zip), enabled or disabled, and per-rule switches.

``install`` unpacks a zip (from a file or an http(s) URL) into ``<data>/rulesets/<name>``;
member paths are checked so that a hostile archive can't write outside that folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update

from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.store import state as S

MAX_DOWNLOAD = 512 * 1024 * 1024


def builtin_pack() -> Path:
    return Path(str(resources.files("garrison.detect").joinpath("rules")))


@dataclass
class InstalledSet:
    name: str
    path: str
    source: str
    enabled: bool


def _fetch(url: str, dest: Path) -> None:
    import httpx

    with httpx.stream("GET", url, follow_redirects=True, timeout=60) as r:
        if r.status_code != 200:
            raise GarrisonError(f"{url}: HTTP {r.status_code}; check the URL")
        size = 0
        with open(dest, "wb") as f:
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise GarrisonError(f"{url}: larger than {MAX_DOWNLOAD} bytes")
                f.write(chunk)


def install(engine: Engine, data_dir: Path, source: str, name: str | None = None) -> InstalledSet:
    work = Path(tempfile.mkdtemp(prefix="garrison-rules-"))
    try:
        if source.startswith(("http://", "https://")):
            archive = work / "download.zip"
            _fetch(source, archive)
        else:
            archive = Path(source)
            if not archive.is_file():
                raise GarrisonError(f"{source}: no such file")
        name = name or Path(source.split("?")[0]).stem
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise GarrisonError(f"rule set name {name!r} must be letters, digits, '-', '_' or '.'")
        target = (data_dir / "rulesets" / name).resolve()
        staging = work / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    dest = (staging / info.filename).resolve()
                    if not str(dest).startswith(str(staging.resolve()) + "/") and dest != staging.resolve():
                        raise GarrisonError(f"{source}: member {info.filename!r} would be written outside the rule set")
                zf.extractall(staging)
        except zipfile.BadZipFile as e:
            raise GarrisonError(f"{source}: not a zip archive ({e})") from e
        if not any(p.suffix in (".yml", ".yaml") for p in staging.rglob("*")):
            raise GarrisonError(f"{source}: the archive holds no .yml rules")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    now = int(time.time() * 1_000_000)
    with engine.begin() as c:
        c.execute(delete(S.rulesets).where(S.rulesets.c.name == name))
        c.execute(insert(S.rulesets).values(name=name, path=str(target), source=source, enabled=1, installed_at=now))
    return InstalledSet(name, str(target), source, True)


def installed(engine: Engine) -> list[InstalledSet]:
    with engine.connect() as c:
        return [InstalledSet(r["name"], r["path"], r["source"], bool(r["enabled"]))
                for r in c.execute(select(S.rulesets).order_by(S.rulesets.c.name)).mappings()]


def set_enabled(engine: Engine, target: str, enabled: bool) -> str:
    """Enable or disable a rule set by name, or a single rule by id or name. Returns what changed."""
    now = int(time.time() * 1_000_000)
    with engine.begin() as c:
        if c.execute(update(S.rulesets).where(S.rulesets.c.name == target).values(enabled=int(enabled))).rowcount:
            return f"rule set {target}"
        c.execute(delete(S.rule_state).where(S.rule_state.c.rule_id == target))
        c.execute(insert(S.rule_state).values(rule_id=target, enabled=int(enabled), changed_at=now))
    return f"rule {target}"


def disabled_rules(engine: Engine) -> set[str]:
    with engine.connect() as c:
        return {r[0] for r in c.execute(select(S.rule_state.c.rule_id).where(S.rule_state.c.enabled == 0))}


def active_paths(engine: Engine, config: Config) -> list[Path]:
    """Where the live engine loads rules from: the built-in pack, configured folders, enabled rule sets."""
    sig = config.detect.sigma
    paths = [builtin_pack()] if sig.builtin_pack and builtin_pack().is_dir() else []
    paths += [Path(p) for p in sig.rule_dirs]
    paths += [Path(s.path) for s in installed(engine) if s.enabled]
    return paths
