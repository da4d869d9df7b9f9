"""Rule sets: installed SigmaHQ release packages (zip) or rule folders, enabled or disabled, and per-rule switches.

``install`` unpacks a zip (from a file or an http(s) URL), or copies a folder's rules, into
``<data>/rulesets/<name>``; member paths are checked so that a hostile archive can't write outside that folder.
Versions of one family (``sigmahq-core``) are separate sets, one enabled at a time (``garrison rules update``).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
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
    family: str | None = None
    version: str | None = None
    sha256: str | None = None
    installed_at: int = 0


Keep = Callable[[str, bytes], bool]  # (path inside the source, file content) -> install it?


MAX_RULES_UNPACKED = 512 * 1024 * 1024  # all members of a rule archive, decompressed
MAX_RULE_FILE = 4 * 1024 * 1024  # one rule file
MAX_RULE_MEMBERS = 50_000
MAX_RULE_RATIO = 200  # decompressed/compressed, per member


def _fetch(url: str, dest: Path) -> str:
    """Download to ``dest``; returns the SHA-256 of what was written."""
    import httpx

    digest = hashlib.sha256()
    with httpx.stream("GET", url, follow_redirects=True, timeout=60) as r:
        if r.status_code != 200:
            raise GarrisonError(f"{url}: HTTP {r.status_code}; check the URL")
        size = 0
        with open(dest, "wb") as f:
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise GarrisonError(f"{url}: larger than {MAX_DOWNLOAD} bytes")
                digest.update(chunk)
                f.write(chunk)
    return digest.hexdigest()


def _published_sha256(url: str) -> str | None:
    """The checksum published beside a download (``URL.sha256``, as GitHub release assets and mirrors carry)."""
    import httpx

    try:
        r = httpx.get(url.split("?")[0] + ".sha256", follow_redirects=True, timeout=30)
    except httpx.HTTPError:
        return None
    if r.status_code != 200 or len(r.content) > 4096:
        return None
    word = r.text.strip().split()[0].lower() if r.text.strip() else ""
    return word if len(word) == 64 and all(c in "0123456789abcdef" for c in word) else None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _unpack(archive: Path, staging: Path, source: str) -> int:
    """Extract rule files only, each bounded; returns how many. Refuses paths outside ``staging``."""
    root = staging.resolve()
    total = count = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_RULE_MEMBERS:
            raise GarrisonError(f"{source}: {len(infos):,} members, more than {MAX_RULE_MEMBERS:,}")
        for info in infos:
            dest = (staging / info.filename).resolve()
            if not str(dest).startswith(str(root) + "/") and dest != root:
                raise GarrisonError(f"{source}: member {info.filename!r} would be written outside the rule set")
            if info.is_dir() or dest.suffix.lower() not in (".yml", ".yaml"):
                continue  # only rules are kept: no scripts, no links, nothing to run
            dest.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(dest, "xb") as out:
                while chunk := src.read(1 << 16):
                    written += len(chunk)
                    total += len(chunk)
                    if written > MAX_RULE_FILE:
                        raise GarrisonError(f"{source}: {info.filename} is larger than {MAX_RULE_FILE:,} bytes")
                    if total > MAX_RULES_UNPACKED:
                        raise GarrisonError(f"{source}: unpacks to more than {MAX_RULES_UNPACKED:,} bytes")
                    if written > 1 << 20 and written > MAX_RULE_RATIO * max(info.compress_size, 1):
                        raise GarrisonError(f"{source}: {info.filename} expands more than {MAX_RULE_RATIO}:1 "
                                            "(a decompression bomb)")
                    out.write(chunk)
            count += 1
    return count


def _copy_folder(folder: Path, staging: Path, keep: Keep | None) -> int:
    """The rule files under ``folder`` (no links followed), each bounded; returns how many."""
    total = count = 0
    for f in sorted(folder.rglob("*")):
        if f.is_symlink() or not f.is_file() or f.suffix.lower() not in (".yml", ".yaml"):
            continue
        if f.stat().st_size > MAX_RULE_FILE:
            raise GarrisonError(f"{f}: larger than {MAX_RULE_FILE:,} bytes")
        data = f.read_bytes()
        rel = f.relative_to(folder).as_posix()
        if keep is not None and not keep(rel, data):
            continue
        total += len(data)
        count += 1
        if total > MAX_RULES_UNPACKED or count > MAX_RULE_MEMBERS:
            raise GarrisonError(f"{folder}: more than {MAX_RULES_UNPACKED:,} bytes or {MAX_RULE_MEMBERS:,} rules")
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return count


def install(engine: Engine, data_dir: Path, source: str, name: str | None = None,
            sha256: str | None = None, *, family: str | None = None, version: str | None = None,
            enable: bool = True, keep: Keep | None = None) -> InstalledSet:
    """Install a rule archive or folder. From a URL it must match ``sha256`` or, without one, the checksum
    published beside it (``URL.sha256``); a mismatch, or a URL with neither, is refused. ``keep`` chooses the
    files of a folder (a package's statuses and levels). With ``enable``, other versions of ``family`` are
    switched off."""
    work = Path(tempfile.mkdtemp(prefix="garrison-rules-"))
    want = sha256.strip().lower() if sha256 else None
    folder = None if source.startswith(("http://", "https://")) else Path(source)
    try:
        if folder is not None and folder.is_dir():
            archive, got = folder, ""
        elif source.startswith(("http://", "https://")):
            archive = work / "download.zip"
            got = _fetch(source, archive)
            want = want or _published_sha256(source)
            if want is None:
                raise GarrisonError(f"{source}: no checksum published beside it ({source}.sha256); give the "
                                    "expected one with --sha256 (from the release page)")
        else:
            archive = Path(source)
            if not archive.is_file():
                raise GarrisonError(f"{source}: no such file")
            got = _sha256_file(archive)
        if want and got != want:
            raise GarrisonError(f"{source}: SHA-256 {got} does not match the expected {want}; not installed")
        name = name or Path(source.split("?")[0]).stem
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise GarrisonError(f"rule set name {name!r} must be letters, digits, '-', '_' or '.'")
        target = (data_dir / "rulesets" / name).resolve()
        staging = work / "unpacked"
        staging.mkdir()
        try:
            n = _copy_folder(archive, staging, keep) if archive.is_dir() else _unpack(archive, staging, source)
        except zipfile.BadZipFile as e:
            raise GarrisonError(f"{source}: not a zip archive ({e})") from e
        if not n:
            raise GarrisonError(f"{source}: holds no .yml rules" + (" of this package" if keep else ""))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    now = int(time.time() * 1_000_000)
    with engine.begin() as c:
        c.execute(delete(S.rulesets).where(S.rulesets.c.name == name))
        if enable and family:
            c.execute(update(S.rulesets).where(S.rulesets.c.family == family).values(enabled=0))
        c.execute(insert(S.rulesets).values(name=name, path=str(target), source=source, enabled=int(enable),
                                            installed_at=now, family=family, version=version, sha256=got or None))
    return InstalledSet(name, str(target), source, enable, family, version, got or None, now)


def installed(engine: Engine) -> list[InstalledSet]:
    with engine.connect() as c:
        return [InstalledSet(r["name"], r["path"], r["source"], bool(r["enabled"]), r["family"], r["version"],
                             r["sha256"], r["installed_at"])
                for r in c.execute(select(S.rulesets).order_by(S.rulesets.c.name)).mappings()]


def prune(engine: Engine, family: str, keep: int = 3) -> list[str]:
    """Remove the oldest disabled versions of ``family`` beyond the newest ``keep``; their names."""
    sets = sorted((s for s in installed(engine) if s.family == family), key=lambda s: -s.installed_at)
    gone = [s for s in sets[keep:] if not s.enabled]
    with engine.begin() as c:
        for s in gone:
            c.execute(delete(S.rulesets).where(S.rulesets.c.name == s.name))
    for s in gone:
        shutil.rmtree(s.path, ignore_errors=True)
    return [s.name for s in gone]


def set_enabled(engine: Engine, target: str, enabled: bool) -> str:
    """Enable or disable a rule set by name, or a single rule by id or name. Returns what changed."""
    now = int(time.time() * 1_000_000)
    with engine.begin() as c:
        row = c.execute(select(S.rulesets.c.family).where(S.rulesets.c.name == target)).first()
        if row is not None:
            if enabled and row[0]:  # one version of a family at a time
                c.execute(update(S.rulesets).where(S.rulesets.c.family == row[0]).values(enabled=0))
            c.execute(update(S.rulesets).where(S.rulesets.c.name == target).values(enabled=int(enabled)))
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
