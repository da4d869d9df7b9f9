"""Authentication failures in the logs of common services (mail, FTP, databases, embedded SSH, ...).

Each pattern says what a service writes when someone fails to log in, and where the client's
address and the account are. The generic patterns at the end catch the many applications that
log "authentication failed ... <address>" in their own words; they demand both a failure phrase
and an address.
"""

from __future__ import annotations

import re

from garrison.model import Event
from garrison.parse._util import clean_ip

_IP = r"(?:::ffff:)?(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})"

# (regex, action); the first that matches wins. Named groups: ip, user.
_SERVICE: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.I), a) for p, a in [
    (rf"\[{_IP}\]:?\s*SASL \w+ authentication failed", "smtp_auth"),  # postfix
    (rf"(?:auth failed|authentication failure|unknown user|password mismatch)[^\n]*?(?:user=<?(?P<user>[^>,\s]*)>?)?[^\n]*?\brip={_IP}", "mail_auth"),  # dovecot
    (rf"\((?P<user>[^,()]*),{_IP}(?:,<[^>]*>)?\): (?:unknown user|Password mismatch|pam_authenticate\(\) failed|invalid credentials)", "mail_auth"),  # dovecot auth
    (rf"bad password attempt for '(?P<user>[^']*)' from {_IP}", "ssh_login"),  # dropbear
    (rf"(?:login attempt for nonexistent user|exit before auth \(user '(?P<user>[^']*)'[^)]*\): Max auth tries reached) from {_IP}", "ssh_login"),
    (rf"badlogin: \S* ?\[{_IP}\] \S+ (?P<user>\S+) SASL", "mail_auth"),  # cyrus
    (rf"\((?:\S+)?\[{_IP}\]\): USER (?P<user>\S+?):? (?:\(Login failed\)|no such user found)", "ftp_login"),  # proftpd
    (rf"USER (?P<user>\S+?): no such user found from {_IP}", "ftp_login"),
    (rf"FAIL LOGIN: Client \"{_IP}\"", "ftp_login"),  # vsftpd
    (rf"\(\S*@{_IP}\) \[WARNING\] Authentication failed for user \[(?P<user>[^\]]*)\]", "ftp_login"),  # pure-ftpd
    (rf"authentication failed(?: for (?:mapped )?user (?P<user>\S+)|: [^-]*)\s*-\s*{_IP}", "mail_auth"),  # solid-pop3d
    (rf"LOGIN FAILED, (?:user|method)=(?P<user>[^,]*),[^\n]*?ip=\[?{_IP}\]?", "mail_auth"),  # courier
    (rf"Access denied for user '(?P<user>[^']*)'@'{_IP}'", "db_login"),  # mysqld
    (rf"FAILED login for (?P<user>\S+) from {_IP}", "web_login"),  # roundcube
    (rf"Registration from '[^']*' failed for '{_IP}(?::\d+)?'", "sip_register"),  # asterisk
    (rf"authenticator failed for [^\[]*(?:\([^)]*\) )?\[{_IP}\]", "smtp_auth"),  # exim
]]
_GENERIC = re.compile(
    r"(?:authentication fail|auth(?:entication)? failed|failed (?:login|password|auth)|login failed|invalid (?:user(?:name)?|password|login)"
    r"|bad password|incorrect password|wrong password|password (?:mismatch|incorrect)|access denied for user"
    r"|unknown user|user not found|failed to authenticate|(?:username|user name) or password is incorrect)", re.I)
_ANY_IP = re.compile(_IP)
_USER = re.compile(r"(?:user(?:name)?[=:\s]+['\"<\[]?)(?P<user>[\w.@-]+)", re.I)


def classify_auth(msg: str, ev: Event) -> bool:
    """Mark ``ev`` a failed authentication when ``msg`` is one; True when it was."""
    for rx, action in _SERVICE:
        m = rx.search(msg)
        if m:
            return _mark(ev, action, m.groupdict().get("ip"), m.groupdict().get("user"))
    if _GENERIC.search(msg):
        ip = next((c for c in (clean_ip(x.group("ip")) for x in _ANY_IP.finditer(msg)) if c), None)
        if ip:
            um = _USER.search(msg)
            return _mark(ev, "login", ip, um.group("user") if um else None)
    return False


def _mark(ev: Event, action: str, ip: str | None, user: str | None) -> bool:
    ev.update({"event.category": "authentication", "event.type": "start", "event.outcome": "failure",
               "event.action": action})
    if ip and (c := clean_ip(ip)):
        ev["source.ip"] = c
    if user:
        ev["user.name"] = user
    return True
