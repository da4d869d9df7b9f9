"""A real IMAP server for the tests: Debian's dovecot, started on loopback with implicit TLS in a throwaway
folder (its own configuration, users and maildirs), never the system's instance.

``make test`` installs ``dovecot-imapd`` (Makefile ``DEBS``). Mail is stored as ``nobody``, since dovecot
refuses to give mail processes root's identity.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from garrison.testing import stop_process
from garrison.testing.tls import make_tls

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
disable_plaintext_auth = yes
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int
    ca_file: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        p = self.root / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(users: dict[str, str]) -> Dovecot:
    """Dovecot serving IMAPS on a free loopback port for ``users`` (name -> password)."""
    if not os.path.exists(DOVECOT):
        raise RuntimeError("dovecot is not installed: run `make test-deps` (Debian package dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="garrison-dovecot-"))
    root.chmod(0o755)  # the mail processes run as nobody and must reach their maildirs
    (root / "mail").mkdir()
    shutil.chown(root / "mail", "nobody", "nogroup")
    cert, key = make_tls(root / "tls")
    (root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
    port = _free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_CONF.format(root=root, cert=cert, key=key, port=port))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited: {proc.stderr.read().decode(errors='replace')[-2000:] if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Dovecot(root, port, cert, proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("dovecot did not start listening within 20 s")
