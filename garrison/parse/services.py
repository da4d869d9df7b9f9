"""Authentication failures in the logs of common services (mail, FTP, databases, embedded SSH, ...).

Each pattern says what a service writes when someone fails to log in, and where the client's
address and the account are. The generic patterns at the end catch the many applications that
log "authentication failed ... <address>" in their own words; they demand both a failure phrase
and an address.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import re2

from garrison.model import Event
from garrison.parse.util import clean_ip

_IP = r"(?:::ffff:)?(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})"
_IP2 = r"(?:::ffff:)?(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})"

# (regex, action); the first that matches wins. Named groups: ip, user.
_SERVICE: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.I), a) for p, a in [
    (rf"\[{_IP}\]:?\s*SASL [\w-]+ authentication failed", "smtp_auth"),  # postfix
    (rf"(?:auth failed|authentication failure|unknown user|password mismatch)[^\n]*?(?:user=<?(?P<user>[^>,\s]*)>?)?[^\n]*?\brip={_IP}", "mail_auth"),  # dovecot
    (rf"\((?P<user>[^,()]*),{_IP}(?:,<[^>]*>)?\): (?:unknown user|Password mismatch|pam_authenticate\(\) failed|invalid credentials)", "mail_auth"),  # dovecot auth
    (rf"bad password attempt for '(?P<user>[^']*)' from {_IP}", "ssh_login"),  # dropbear
    (rf"Exit before auth \(user '(?P<user>[^']*)', \d+ fails\): Max auth tries reached - user '[^']*' from {_IP}", "ssh_login"),
    (rf"Exit before auth from <{_IP}:\d+>: (?:\(user '(?P<user>[^']*)', \d+ fails\): )?Max auth tries reached", "ssh_login"),
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
    (rf"authenticator failed for (?:\S+ )?(?:\([^)]*\) )?\[{_IP}\]", "smtp_auth"),  # exim
    (rf"IMAP Error: Login failed for (?P<user>\S+) from \S+?\.? (?:in )?from {_IP}", "web_login"),  # roundcube behind a proxy
    (rf"\[{_IP}\]:? (?:\(may be forged\):? )?possible SMTP attack: command=AUTH", "smtp_auth"),  # sendmail
    (rf"\({_IP}\[{_IP2}\]\):? (?:- )?(?:SECURITY VIOLATION: root login attempt|Maximum login attempts)", "ftp_login"),  # proftpd
    (rf"\((?:\S+)?\[{_IP}\]\)[^\n]*?USER (?P<user>\S+?):? no such user found", "ftp_login"),
    (rf"Failed Login: username=(?P<user>.*?) ip={_IP}", "web_login"),  # gitlab
    (rf"msg=\"Invalid username or password\"(?:[^\n]*?uname=(?P<user>\S*))?[^\n]*?remote_addr={_IP}", "web_login"),  # grafana
    (rf"PAM: user '(?P<user>[^']*)' - not authenticated: [^,]*, client: {_IP}", "http_auth"),  # nginx auth_pam
    (rf"user \"(?P<user>[^\"]*)\" was not found in \"[^\"]*\", client: {_IP}", "http_auth"),  # nginx
    (rf"(?:tried to use (?:disabled|disallowed) \w+ auth|client didn't finish SASL auth)(?:[^\n]*?user=<(?P<user>[^>]*)>)?[^\n]*?rip={_IP}", "mail_auth"),  # dovecot
    (rf"\b(?:ldap|pam|passwd-file|sql|shadow)\((?P<user>[^,()]*),{_IP},[^)]*\): (?:invalid credentials|unknown user|Password mismatch)", "mail_auth"),
    (rf"auth\((?P<user>[^,()]*),{_IP},[^)]*\)[^:]*: (?:Info: )?\w+: (?:Password mismatch|unknown user|invalid credentials)", "mail_auth"),
    (rf"password doesn't match for \S+ username: (?P<user>[^,\s]*),? IP: {_IP}", "http_auth"),  # lighttpd
    (rf"get_password failed, IP: {_IP}", "http_auth"),
    (r"Access denied for user '(?P<user>[^']*)'@'(?P<host>[^']*)'", "db_login"),  # mysqld, the client named by host
    (rf"(?:Registration|Request(?: '\w+')?) from '.*?' failed for '{_IP}(?::\d+)?'[^\n]*?- (?:Wrong password|Failed to authenticate|Error to authenticate|Username/auth name mismatch|Device does not match ACL|Peer is not supposed to register|ACL error|No matching peer found|Not a local domain|No matching endpoint found|Not match Endpoint(?: Contact)? ACL)", "sip_register"),  # asterisk
    (rf"Host {_IP} failed (?:MD5|to) authenticat", "sip_register"),
    (rf"No registration for peer '(?P<user>[^']*)' \(from {_IP}\)", "sip_register"),
    (rf"{_IP} tried to authenticate with nonexistent user '(?P<user>[^']*)'", "sip_register"),
    (rf"SecurityEvent=\"(?:InvalidAccountID|InvalidPassword|ChallengeResponseFailed|FailedACL|ChallengeSent)\"[^\n]*?(?:AccountID=\"(?P<user>[^\"]*)\")?[^\n]*RemoteAddress=\"IPV[46]/(?:UDP|TCP|TLS|WS|WSS)/{_IP}/", "sip_register"),  # the last one: earlier fields are the client's
    (rf"Rejecting unknown SIP connection from \[?{_IP}\]?", "sip_register"),
    (rf"SIP auth failure \(\w+\) on sofia profile '[^']*' for \[(?P<user>[^@\]]*)[^\]]*\] from ip {_IP}", "sip_register"),  # FreeSWITCH
    (rf"Can't find user \[(?P<user>[^@\]]*)[^\]]*\] from {_IP}", "sip_register"),
    (rf"Authentication attempt from {_IP} for user \"(?P<user>[^\"]*)\" failed", "web_login"),  # Guacamole
    (rf"\|user\|{_IP}\|[^\n]*\|Login attempt failed (?:for|from) (?P<user>[^|.]*)", "web_login"),  # Drupal watchdog
    (rf"{_IP}:\d+ (?:VERIFY ERROR: |TLS Auth Error: |WARNING: Failed running command \(--auth-user-pass-verify\))", "vpn_login"),  # OpenVPN
    (rf"Failed SMTP login from {_IP}", "smtp_auth"),  # Kerio Connect
    (rf"Administration login into [\w ]+ from {_IP} failed", "web_login"),
    (rf"\[WEB\] \[{_IP}\] Authentication failed for '(?P<user>[^']*)'", "web_login"),  # Centreon
    (rf"'{_IP}' \d+ failed login attempts?\. (?:Invalid )?account '(?P<user>[^']*)'", "web_login"),  # DirectAdmin
    (rf"Failed (?:c2s \w+ )?authentication for (?P<user>\S+) from (?:IP )?{_IP}", "xmpp_login"),  # ejabberd
    (rf"LOGIN FAILED for user: \"(?P<user>[^\"]*)\" from IP: {_IP}", "web_login"),  # Group-Office
    (rf"repeated login failures from {_IP}", "ftp_login"),  # gssftpd
    (rf"{_IP}:\d+ \[[^\]]+\] \S+ \S+/<NOSRV> \S+ 401 ", "http_auth"),  # HAProxy's own basic auth
    (rf"\bAUTHERR - \[{_IP}\] Authentication error", "http_auth"),  # Monitorix
    (rf"<\d+:(?P<user>[^(>]*)\(-?\d+\)> Rejected connection from {_IP}:\d+: (?:Invalid server password|Wrong certificate or password)", "voice_login"),  # Mumble
    (rf"\({_IP}\) (?P<user>\S+) - (?:userinfo|login) error - ", "web_login"),  # OpenWebMail
    (rf"user denied: (?P<user>\S+) \([^)]*\) from {_IP}", "db_login"),  # phpMyAdmin
    (rf"login failure for user (?P<user>.*?) from {_IP} via \w+", "login"),  # MikroTik RouterOS
    (rf"Authentication: FAILED :: User Name: (?P<user>.*?) :: (?:[^:]*::\s*)?Viewer Address: {_IP}", "vnc_login"),  # macOS screen sharing
    (rf"Login from '{_IP}(?:, [^']*)?' for user '(?P<user>[^']*)' might not have worked", "web_login"),  # SOGo
    (rf"\[LOGIN_ERROR\] (?P<user>\S+) \([^)]*\) from {_IP}: Unknown user or password incorrect", "web_login"),  # SquirrelMail
    (rf"SSL_accept from {_IP}:\d+ : [^\n]*peer did not return a certificate", "tls_client_auth"),  # stunnel
    (rf"Login with username (?P<user>\S+) from {_IP} failed", "web_login"),  # Tine 2.0
    (rf"(?:Login (?:excessive login failures|disabled|failed)|Failed \w+ override of) user=(?P<user>\S+)[^\n]*? host=[^\n]*?\[{_IP}\]", "mail_auth"),  # UW IMAP
    (rf"(?:Username or password is incorrect\. Try again|Invalid admin token!?|Invalid TOTP code![^\n]*?)\.? IP: {_IP}(?:\. Username: (?P<user>\S+?)\.?$)?", "web_login"),  # Vaultwarden
    (rf"(?:Non-existent|Invalid) login as (?P<user>\S+) from {_IP}", "web_login"),  # Webmin
    (rf".*AUTHFAIL: user=(?P<user>.*?) ip={_IP}", "rdp_login"),  # xrdp-sesman; the last one on the line is the real one
    (r"xrdp_wm_log_msg: login failed for user (?P<user>.*)", "rdp_login"),  # no address: the name is the client's text
    (rf"\[(?P<user>[^\]]+)\] failed to login from {_IP}", "irc_login"),  # ZNC
    (rf"Blocking {_IP} - too much AUTH errors", "smtp_auth"),  # ASSP
    (rf"smtp: (?P<user>\S+) \[{_IP}\] authentication failure", "smtp_auth"),  # Domino
    (rf"tcp/accept \]: {_IP}\.\d+ \S+: error after reading \d+ bytes? in \d+ seconds?: could not access user \"(?P<user>[^\"]*)\"'s records", "proxy_login"),  # Dante
    (rf"Client '{_IP}' supplied (?:unknown user '(?P<user>[^']+)'|wrong password for user '(?P<user2>[^']*)')", "http_auth"),  # Monit
    (rf"access denied -- client \[?{_IP}\]?: (?:unknown user '(?P<user>[^']+)'|wrong password for user '(?P<user2>[^']*)'|empty password)", "http_auth"),
    (rf"(?:root login not allowed|can't find APOP secret for user (?P<user>\S+)) - {_IP}", "mail_auth"),  # solid-pop3d
    (r"^(?:WAR|ERR) \[(?:Login denied for user \"(?P<user>[^\"]*)\"|Could not retrieve user (?P<user2>\S+) details)\]", "web_login"),  # ZoneMinder
]]

# Attempts that are not logins: mail relaying and recipient probing, protocol abuse, a handshake that
# went nowhere. (regex, action, category); named groups: ip, user.
_ABUSE: list[tuple[re.Pattern[str], str, str]] = [(re.compile(p, re.I), a, c) for p, a, c in [
    (rf"(?:NOQUEUE|\w+): (?:milter-)?reject: \w+ from \S*?\[{_IP}\]", "smtp_reject", "email"),  # postfix
    (rf"(?:improper command pipelining|too many errors) after \w+ from \S*?\[{_IP}\]", "smtp_protocol", "email"),
    (rf"(?:PREGREET \d+ after \S+|HANGUP after \S+|COMMAND (?:TIME|COUNT|LENGTH) LIMIT|DNSBL rank \d+) from \[{_IP}\]", "smtp_protocol", "email"),  # postscreen
    (rf"(?:Connection|Message delivery request) rate limit exceeded: \d+ from \S*?\[{_IP}\]", "smtp_flood", "email"),
    (rf"lost connection after (?:CONNECT|STARTTLS|UNKNOWN|EHLO) from \S*?\[{_IP}\]", "smtp_protocol", "email"),
    (rf"disconnect from \S*?\[{_IP}\][^\n]*? auth=0/[1-9]", "smtp_auth_failed", "email"),
    (rf"\bH=(?:\S+ )?(?:\([^)]*\) )?\[{_IP}\](?::\d+)?[^\n]*?(?:rejected|sender verify fail|dropped|refused|not permitted)", "smtp_reject", "email"),  # exim
    (rf"SMTP protocol (?:synchronization )?error[^\n]*?(?:H=(?:\S+ )?(?:\([^)]*\) )?|from H=)\[{_IP}\]", "smtp_protocol", "email"),
    (rf"SMTP protocol error in \"[^\n]*?\" H=(?:\S+ )?(?:\([^)]*\) )?\[{_IP}\]", "smtp_protocol", "email"),
    (rf"SMTP call from (?:\S+ )?(?:\([^)]*\) )?\[{_IP}\][^\n]*? dropped:", "smtp_protocol", "email"),
    (rf"no MAIL in SMTP connection from (?:\S+ )?(?:\([^)]*\) )?\[{_IP}\]", "smtp_protocol", "email"),
    (rf"SMTP connection from (?:\S+ )?(?:\([^)]*\) )?\[{_IP}\][^\n]*? closed by DROP in ACL", "smtp_reject", "email"),
    (rf"error,relay={_IP},[^\n]*: 5\d\d ", "smtp_reject", "email"),  # courier
    (rf"Call from '[^']*' \((?:\w+:)?\[?{_IP}\]?:\d+\) to extension '[^']*' rejected", "sip_probe", "network"),  # asterisk
    (rf"Call \((?:\w+:)?\[?{_IP}\]?:\d+\) to extension '[^']*' rejected", "sip_probe", "network"),
    (rf"hacking attempt detected '{_IP}'", "sip_probe", "network"),
    (rf"{_IP}:\d+ TLS Error: TLS handshake failed", "tls_probe", "network"),  # OpenVPN
    (rf"(?:Relay attempt from IP address {_IP}[^\n]* rejected|Attempt to deliver to unknown recipient [^\n]*, IP address {_IP2}"
     rf"|SMTP Spam attack detected from {_IP2}|IP address {_IP2} found in DNS blacklist|User \S+ doesn't exist\. Attempt from IP address {_IP2}"
     rf"|Client with IP address {_IP2} has no reverse DNS entry, connection rejected|Message from IP address {_IP2}, sender [^\n]* rejected)", "smtp_reject", "email"),  # Kerio
    (rf"no IP address found for host \S+ \(during SMTP connection from \[{_IP}\]", "smtp_reject", "email"),
    (rf"SSL_do_handshake\(\) failed [^\n]*? while SSL handshaking, client: {_IP}", "tls_probe", "network"),  # nginx
    (rf"SSL_read\(\) failed [^\n]*? while waiting for request, client: {_IP}", "tls_probe", "network"),
    (rf"\bNOTALLOWED - \[{_IP}\] Access not allowed", "access_denied", "web"),  # Monitorix
    (rf"\bNOTEXIST - \[{_IP}\] File does not exist", "web_probe", "web"),
    (rf"Host {_IP} is not allowed to talk to us", "access_denied", "network"),  # Nagios NRPE
    (rf"Fatal Error reading authentication information from client {_IP}:\d+->", "imap_protocol", "email"),  # perdition
    (rf"rblsmtpd: (?:{_IP} pid \d+ \S+: 4\d\d|\S+ blocked {_IP2})|badiprbl: ip {_IP2}", "smtp_reject", "email"),  # qmail
    (rf"ALERT - [^\n]*?\(attacker '{_IP}'", "php_hardening", "web"),  # Suhosin
    (rf"FAIL: \S+ (?:address|libwrap) from={_IP}", "access_denied", "network"),  # xinetd
    (rf"client (?:@0x[0-9a-f]+ )?{_IP}#\d+(?: \([^)]*\))?: (?:view \S+: )?(?:query(?: \(cache\))? '[^']*' denied|zone transfer '[^']*' denied"
     rf"|update '[^']*' denied|query \(cache\) denied)", "dns_refused", "network"),  # BIND named
    (rf"(?:axfr|ixfr) for (?:zone )?\S+ from (?:client )?{_IP} refused|ratelimit block \S+ type \w+ target \S+ query {_IP2}",
     "dns_refused", "network"),  # NSD
    (rf"ruleset=check_(?:rcpt|mail|relay), arg1=[^\n]*?relay=(?:\S+ )?\[{_IP}\][^\n]*?, reject=5\d\d", "smtp_reject", "email"),  # sendmail
    (rf"Host: {_IP}/\S+ Port: \d+ (?:TCP|UDP) Blocked|attackalert: \w+(?: scan)? from host: \S+/{_IP2}", "port_scan", "network"),  # portsentry
    (rf"(?:^|scanlogd: ){_IP}(?::\d+)? to {_IP2}(?::\d+)? ports \d", "port_scan", "network"),  # scanlogd
    # fail2ban's own bans (not its recidive jail's, which re-bans the same offenders)
    (rf"(?:fail2ban\.actions\s*(?:\[\d+\])?:\s+|^)NOTICE\s+\[(?!recidive\])[^\]]+\] (?:Ban|Restore Ban) {_IP}", "banned_elsewhere", "intrusion_detection"),
    (rf"Bad Rcon: [^\n]* from \"{_IP}:\d+\"", "rcon_login", "authentication"),  # Source/GoldSrc game servers
    (rf"{_IP} SSL negotiation with client failed", "tls_probe", "network"),  # ASSP
    # dovecot: a client that broke off a TLS handshake or sent junk before trying to log in
    (rf"-login: (?:Disconnected|Login aborted)\b[^\n]*?(?:SSL_accept\(\)|TLS handshak|Too many invalid commands|disconnected before auth was ready|Connection reset by peer)[^\n]*?\brip={_IP}", "mail_probe", "email"),
    (rf"\[RelayAttempt\] {_IP} [^\n]*?relay attempt blocked", "smtp_reject", "email"),
    (rf"Connection from \[{_IP}\] rejected for policy reasons", "smtp_reject", "email"),  # Domino
    (rf"SA: Action: (?:flagged as Spam|silently tossed message)[^\n]*?\(host=\S* \[{_IP}\]\)", "spam", "email"),  # exim + SpamAssassin
    (rf"TLS Error: cannot locate HMAC in incoming packet from \[AF_INET6?\]{_IP}", "tls_probe", "network"),  # OpenVPN tls-auth
    (rf"SIP auth challenge \(INVITE\) on sofia profile '[^']*' for \[[^\]]*\] from ip {_IP}", "sip_probe", "network"),  # FreeSWITCH
]]
_GENERIC = re.compile(
    r"(?:authentication fail|auth(?:entication)? failed|failed (?:login|password|auth)|login failed|invalid (?:user(?:name)?|password|login)"
    r"|bad password|incorrect password|wrong password|password (?:mismatch|incorrect)|access denied for user"
    r"|unknown user|user not found|failed to authenticate|(?:username|user name) or password is incorrect)", re.I)
_ANY_IP = re.compile(_IP, re.I)
_USER = re.compile(r"(?:user(?:name)?[=:\s]+['\"<\[]?)(?P<user>[\w.@-]+)", re.I)


# Failures of the server's own making, not the client's: no attempt to count.
_SERVER_SIDE = re.compile(r"authentication failed: (?:Connection lost to authentication server|Invalid authentication "
                          r"mechanism|generic failure)|condition lead to a hypothetical failure"
                          r"|unknown user ''"  # monit: the browser's first request, before any name was typed
                          r"|^Wrong data received:", re.I)  # MSSQL echoing a client's bytes: any phrase after it is theirs


def _prefilter() -> Callable[[str], set[int]]:
    """One RE2 pass that says which of the patterns above can match a message (indices into _SERVICE, then
    _ABUSE): most syslog lines match none, and trying a hundred patterns one by one cost most of the syslog
    parser's time. Python-only syntax (lookahead) is dropped for the prefilter, which may only be looser."""
    opts = re2.Options()
    opts.case_sensitive = False
    opts.log_errors = False
    rs = re2.Set.SearchSet(opts)
    always: set[int] = set()
    for i, rx in enumerate([r for r, _ in _SERVICE] + [r for r, _, _ in _ABUSE]):
        src = re.sub(r"\(\?[!=][^)]*\)", "", rx.pattern)
        try:
            n = rs.Add(src)
        except Exception:  # noqa: BLE001 - RE2 refuses some Python syntax: such a pattern is always tried
            always.add(i)
            rs.Add("a^")  # a pattern that never matches keeps the indices aligned
            continue
        assert n == i
    rs.Compile()

    def candidates(msg: str) -> set[int]:
        found = rs.Match(msg)
        return set(found) | always if found else always
    return candidates


_CANDIDATES = _prefilter()


def classify_auth(msg: str, ev: Event) -> bool:
    """Mark ``ev`` a failed authentication (or another kind of refused attempt) when ``msg`` is one; True when it
    was."""
    if _SERVER_SIDE.search(msg):
        return False
    for i in sorted(_CANDIDATES(msg)):
        if i < len(_SERVICE):
            rx, action = _SERVICE[i]
            if m := rx.search(msg):
                g = m.groupdict()
                return _mark(ev, action, g.get("ip"), g.get("user") or g.get("user2"), g.get("host"))
            continue
        rx, action, category = _ABUSE[i - len(_SERVICE)]
        if m := rx.search(msg):
            ev.update({"event.category": category, "event.type": "denied", "event.outcome": "failure",
                       "event.action": action})
            ip = m.group("ip") or next((x.group("ip") for x in _ANY_IP.finditer(m.group(0))), None)
            if ip and (c := clean_ip(ip)):
                ev["source.ip"] = c
            return True
    if _GENERIC.search(msg):
        ip = next((c for c in (clean_ip(x.group("ip")) for x in _ANY_IP.finditer(msg)) if c), None)
        if ip:
            um = _USER.search(msg)
            return _mark(ev, "login", ip, um.group("user") if um else None)
    return False


def classify_app_message(msg: str, ev: Event) -> bool:
    """Only a service's own failure phrase, for messages whose client the caller already knows: no address
    is taken from the text, which may hold what the client sent."""
    for i in sorted(_CANDIDATES(msg)):
        if i < len(_SERVICE) and "ip" not in (rx := _SERVICE[i][0]).groupindex and (m := rx.search(msg)):
            g = m.groupdict()
            return _mark(ev, _SERVICE[i][1], None, g.get("user") or g.get("user2"))
    return False


def _mark(ev: Event, action: str, ip: str | None, user: str | None, host: str | None = None) -> bool:
    """``host``: where a service names the client by address or name (mysqld's 'user'@'host')."""
    ev.update({"event.category": "authentication", "event.type": "start", "event.outcome": "failure",
               "event.action": action})
    if host and not ip:
        ip = host if clean_ip(host) else None
        if ip is None:
            ev["source.domain"] = host
    if ip and (c := clean_ip(ip)):
        ev["source.ip"] = c
    if user:
        ev["user.name"] = user
    return True
