"""Bad input goes to the quarantine with its source, position and reason; the rest goes on."""

from __future__ import annotations

import gzip
from collections import Counter
import shutil

from sqlalchemy import select

from garrison.model import RawRecord, Reject
from garrison.pipeline.runner import import_paths
from garrison.sources.files import read_file
from garrison.store import state as S


def _quarantine(store):
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.quarantine)).mappings()]


def test_each_bad_input_is_quarantined(tmp_path, data, store, pipeline):
    good = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n"
    d = tmp_path / "in"
    d.mkdir()
    # a truncated .gz: the first half of a real compressed log
    full = gzip.compress((data / "loghub/OpenSSH/OpenSSH_2k.log").read_bytes())
    (d / "truncated.log.gz").write_bytes(full[: len(full) // 2])
    # invalid UTF-8 inside JSON, and inside a syslog line
    (d / "bad-utf8.json").write_bytes(b'{"EventID": 1, "Channel": "Security", "x": "\xff\xfe"}\n')
    (d / "bad-utf8.log").write_bytes(good.encode() + b"Dec 10 06:55:47 LabSZ sshd[1]: Invalid user \xff\xfe from 1.2.3.4\n")
    # a 1 MB line between two good ones
    (d / "huge.log").write_text(good + "A" * (1024 * 1024) + "\n" + good)
    # malformed JSON
    (d / "malformed.json").write_text('{"EventID": 4625, "Channel": "Security"}\n{"EventID": 4625, "Chan\n')
    # an unknown format
    (d / "unknown.txt").write_text("this is not a log line of any kind\n")
    # a corrupt EVTX chunk: overwrite the records of a real file
    evtx = next((data / "sigma/regression_data").rglob("*.evtx"))
    raw = bytearray(evtx.read_bytes())
    raw[0x1000 + 0x300 : 0x1000 + 0x600] = b"A" * 0x300
    (d / "corrupt.evtx").write_bytes(bytes(raw))

    res = import_paths(pipeline, store, [d])
    q = _quarantine(store)
    by_file = {}
    for r in q:
        by_file.setdefault(r["source"].rsplit("/", 1)[-1], []).append(r)

    assert "stream ends early" in by_file["truncated.log.gz"][0]["reason"]
    assert "malformed JSON" in by_file["bad-utf8.json"][0]["reason"]
    huge = by_file["huge.log"][0]
    assert huge["position"] == 2 and "exceeds the limit" in huge["reason"]
    assert len(huge["raw"]) == 64 * 1024 and huge["raw_bytes"] == 1024 * 1024 and len(huge["raw_sha256"]) == 64
    assert by_file["malformed.json"][0]["position"] == 2 and "malformed JSON" in by_file["malformed.json"][0]["reason"]
    assert by_file["unknown.txt"][0]["reason"].startswith("unknown format")
    assert by_file["corrupt.evtx"][0]["reason"].startswith("EVTX:")
    # the rest went on: lines before the gz truncation, the good lines around the huge one, the good JSON line
    assert res.events > 100
    assert pipeline.counters.warnings["invalid_utf8"] == 1  # the syslog line is kept with its bytes escaped
    assert res.rejects == len(q)


def test_truncated_gzip_keeps_what_was_readable(tmp_path, data, store, pipeline):
    full = gzip.compress((data / "loghub/OpenSSH/OpenSSH_2k.log").read_bytes())
    p = tmp_path / "t.log.gz"
    p.write_bytes(full[: int(len(full) * 0.8)])
    res = import_paths(pipeline, store, [p])
    assert 1000 < res.events < 2000 and res.rejects == 1


def test_zip_and_folder_import(tmp_path, data, store, pipeline):
    z = data / "otrf/datasets/atomic/windows/defense_evasion/host/empire_launcher_sct_regsvr32.zip"
    d = tmp_path / "dir"
    d.mkdir()
    shutil.copy(z, d / "rec.zip")
    shutil.copy(data / "loghub/OpenSSH/OpenSSH_2k.log", d / "ssh.log")
    res = import_paths(pipeline, store, [d])
    assert res.rejects == 0 and res.events > 2000
    assert pipeline.counters.by_dataset["sshd"] == 2000 and pipeline.counters.by_dataset["windows.sysmon"] > 0


def test_gzip_followed_by_padding_or_junk_ends_and_says_so(tmp_path):
    """A gzip member followed by bytes that are not gzip once made the reader spin forever."""
    lines = b"".join(b"line %d\n" % i for i in range(500))
    for tail, rejects in ((b"", 0), (b"\0" * 10_000, 0), (b"\x01", 1), (b"junk after the end" * 100, 1),
                          (gzip.compress(b"second member\n"), 0)):
        p = tmp_path / "t.log.gz"
        p.write_bytes(gzip.compress(lines) + tail)
        got = list(read_file(p))
        recs = [r for r in got if isinstance(r, RawRecord)]
        assert len(recs) == 500 + (1 if tail.startswith(b"\x1f\x8b") else 0)
        assert sum(isinstance(r, Reject) for r in got) == rejects
        if rejects:
            assert "not gzip data" in got[-1].reason


def test_tar_archives_are_read_member_by_member(tmp_path, data):
    import io
    import tarfile

    otrf = next((data / "otrf").rglob("*.tar.gz"))
    got = list(read_file(otrf))
    assert got and all(isinstance(r, RawRecord) for r in got) and "!" in got[0].source
    evtx = next((data / "sigma/regression_data").rglob("*.evtx"))
    p = tmp_path / "mixed.tgz"
    with tarfile.open(p, "w:gz") as tf:
        tf.add(evtx, "logs/a.evtx")
        for name, body in (("logs/ssh.log", (data / "loghub/OpenSSH/OpenSSH_2k.log").read_bytes()),
                           ("logs/old.log.gz", gzip.compress(b"Jan  1 00:00:00 host sshd[1]: Accepted\n"))):
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    got = list(read_file(p))
    by_member = Counter(r.source.split("!")[1] for r in got if isinstance(r, RawRecord))
    assert by_member["logs/ssh.log"] == 2000 and by_member["logs/old.log.gz"] == 1 and by_member["logs/a.evtx"] >= 1
    cut = tmp_path / "cut.tar"
    with tarfile.open(cut, "w") as tf:
        tf.add(data / "loghub/OpenSSH/OpenSSH_2k.log", "ssh.log")
        tf.add(evtx, "a.evtx")
    ssh_end = 512 + -(-(data / "loghub/OpenSSH/OpenSSH_2k.log").stat().st_size // 512) * 512
    cut.write_bytes(cut.read_bytes()[:ssh_end + 512 + 4096])  # into the evtx member
    got = list(read_file(cut))
    assert any(isinstance(r, RawRecord) for r in got)
    assert isinstance(got[-1], Reject) and "tar archive" in got[-1].reason
