"""Web server logs: Apache/nginx access (combined, common, vhost), IIS W3C, Apache error.

Requests map to ECS ``http.*``, ``url.*``, ``source.ip`` and
``user_agent.original``; 4xx/5xx set ``event.outcome`` to failure.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import clf_us, iso_us, strptime_us
from garrison.parse import waf
from garrison.parse.util import clean_ip, to_int

ACCESS = re.compile(
    r'(?:(?P<vhost>[^\s"]+) )?(?P<ip>[0-9A-Fa-f:.]+|\S+) (?P<ident>\S+) (?P<user>\S+|"[^"]*") '
    r'\[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<bytes>\d+|-)'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?(?P<rest>.*)'
)
_APACHE_ERROR = re.compile(r"\[(\w{3}) (\w{3}) (\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? (\d{4})\] \[([\w:]+)\] (.*)", re.S)


def _request(ev: Event, request: str) -> None:
    parts = request.split(" ")
    if len(parts) >= 2 and parts[0].isalpha():
        ev["http.request.method"] = parts[0]
        url = " ".join(parts[1:-1]) if len(parts) >= 3 and parts[-1].startswith("HTTP/") else " ".join(parts[1:])
        if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
            ev["http.version"] = parts[-1][5:]
        _url(ev, url)
    elif request and request != "-":
        ev["http.request.raw"] = request  # garbage or a TLS handshake sent to a plain port


def _url(ev: Event, url: str) -> None:
    ev["url.original"] = url
    q = url.find("?")
    ev["url.path"] = url if q < 0 else url[:q]
    if q >= 0:
        ev["url.query"] = url[q + 1 :]


def _status(ev: Event, status: int | None) -> None:
    if status is None:
        return
    ev["http.response.status_code"] = status
    ev["event.outcome"] = "failure" if status >= 400 else "success"


def parse_access(text: str, st: ParseState) -> Event:
    m = ACCESS.match(text)
    if not m:
        raise ParseError("not an Apache/nginx access log line (common or combined)")
    ev: Event = {
        "event.original": text,
        "event.kind": "event",
        "event.category": "web",
        "event.type": "access",
        "event.dataset": "web.access",
        "@timestamp": clf_us(m.group("time")),
    }
    ip = clean_ip(m.group("ip"))
    if ip:
        ev["source.ip"] = ip
    else:
        ev["source.domain"] = m.group("ip")
    if m.group("vhost"):
        ev["url.domain"] = m.group("vhost").split(":")[0]
    user = m.group("user").strip('"')
    if user != "-":
        ev["user.name"] = user
    _request(ev, m.group("request"))
    _status(ev, to_int(m.group("status")))
    if ev.get("http.response.status_code") == 401 and "user.name" in ev:
        # a name was sent and refused: a failed HTTP login (a 401 without one is the server's first challenge)
        ev.update({"event.category": "authentication", "event.action": "http_auth_failed"})
    if (b := to_int(m.group("bytes"))) is not None:
        ev["http.response.body.bytes"] = b
    ref, agent = m.group("referrer"), m.group("agent")
    if ref and ref != "-":
        ev["http.request.referrer"] = ref
    if agent and agent != "-":
        ev["user_agent.original"] = agent
    return ev


# W3C field name -> ECS name
_W3C = {
    "s-ip": "destination.ip", "cs-method": "http.request.method", "cs-uri-stem": "url.path",
    "cs-uri-query": "url.query", "s-port": "destination.port", "cs-username": "user.name",
    "c-ip": "source.ip", "cs(user-agent)": "user_agent.original", "cs(referer)": "http.request.referrer",
    "sc-status": "http.response.status_code", "sc-bytes": "http.response.body.bytes",
    "cs-host": "url.domain", "s-computername": "host.name", "s-sitename": "iis.site_name",
    "sc-substatus": "iis.sub_status", "sc-win32-status": "iis.win32_status", "time-taken": "iis.time_taken",
}


def parse_iis(text: str, st: ParseState) -> Event | None:
    """IIS W3C extended format. '#Fields:' directives set the columns; other '#' lines are skipped."""
    if text.startswith("#"):
        if text.startswith("#Fields:"):
            st.iis_fields = text[8:].split()
        return None
    if not st.iis_fields:
        raise ParseError("IIS W3C line before any '#Fields:' directive")
    vals = text.split(" ")
    if len(vals) != len(st.iis_fields):
        raise ParseError(f"IIS W3C line has {len(vals)} fields, '#Fields:' declares {len(st.iis_fields)}")
    ev: Event = {"event.original": text, "event.kind": "event", "event.category": "web",
                 "event.type": "access", "event.dataset": "web.iis"}
    date = tm = None
    for name, v in zip(st.iis_fields, vals):
        if v == "-":
            continue
        lname = name.lower()
        if lname == "date":
            date = v
        elif lname == "time":
            tm = v
        elif (target := _W3C.get(lname)) is not None:
            if target.endswith(".ip"):
                if ip := clean_ip(v):
                    ev[target] = ip
            elif target.endswith((".port", ".status_code", ".bytes")):
                if (n := to_int(v)) is not None:
                    ev[target] = n
            elif target in ("user_agent.original", "http.request.referrer"):
                ev[target] = v.replace("+", " ")
            else:
                ev[target] = v
        else:
            ev["iis." + lname] = v
    if date and tm:
        ev["@timestamp"] = iso_us(f"{date}T{tm}Z")
    path = ev.get("url.path")
    if path:
        q = ev.get("url.query")
        ev["url.original"] = f"{path}?{q}" if q else path
    if "http.response.status_code" in ev:
        _status(ev, ev["http.response.status_code"])
    return ev


def parse_apache_error(text: str, st: ParseState) -> Event:
    m = _APACHE_ERROR.match(text)
    if not m:
        raise ParseError("not an Apache error log line")
    _dow, mon, day, tod, year, level, msg = m.groups()
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "web.error",
                 "event.category": "web", "event.type": "error", "log.level": level.split(":")[-1],
                 "@timestamp": clf_us(f"{day}/{mon}/{year}:{tod} +0000"), "message": msg}
    apache_error_message(msg, ev, st)
    return ev


# [client 1.2.3.4:5678] / [remote [2001:db8::1]:5678]: the first such tag names the client; later ones may be text
# the client sent.
_APACHE_CLIENT = re.compile(r"\[(?:client|remote) \[?([0-9A-Fa-f:.]+?)\]?(?::\d+)?\]")
_APACHE_TAGS = re.compile(r"(?:\s*\[[^\]]*\])*\s*(?:AH\d{5}: )?(?:Digest: |Basic: )?")
_APACHE_AUTH = re.compile(
    r"(?:user (?P<user>\S*?):? ?(?:not found|authentication failure|password mismatch|authorization failure)"
    r"|(?:user `?(?P<user2>[^`']*)'? in realm .* not found)"
    r"|client used wrong authentication scheme|Authorization of user (?P<user3>\S+) to access .* failed"
    r"|invalid nonce (?!\S+ received - hash is not)|realm mismatch|unknown algorithm|invalid qop|nonce .* (?:expired|stale)|user attempted time travel"
    r"|authentication failed|no password|password mismatch)", re.I)
_APACHE_DENIED = re.compile(r"client denied by server configuration", re.I)
_APACHE_TLS = re.compile(r"Hostname \S+ provided via SNI|No hostname was provided via SNI", re.I)
_APACHE_MISSING = re.compile(r"(?:File does not exist: (\S+)|script not found or unable to stat: (\S+)|script '([^']+)' not found"
                             r" or unable to stat)")
_APACHE_OVERFLOW = re.compile(r"(?:Invalid URI in request|request failed: (?:URI too long|error reading the headers)"
                              r"|request failed: erroneous characters after protocol string)")
_APACHE_SHELLSHOCK = re.compile(r"/bin/(?:ba)?sh: (?:warning: \S+: ignoring function definition attempt|error importing "
                                r"function definition for)")


def apache_error_message(msg: str, ev: Event, st: ParseState | None = None) -> None:
    """What an Apache error message says about the client: a failed HTTP login, an access refused by the
    configuration, a TLS name mismatch (a probe), a web application firewall's alert. The phrase must open the
    message, after Apache's tags, so that text a client sent (a requested path) can't pose as one."""
    cm = _APACHE_CLIENT.search(msg)
    if cm and (ip := clean_ip(cm.group(1))):
        ev["source.ip"] = ip
    rest = msg[_APACHE_TAGS.match(msg, cm.end()).end():] if cm else ""  # type: ignore[union-attr]
    if rest.startswith("ModSecurity:"):
        waf.waf_message(msg, ev, st)
        return
    um = re.search(r"(?:Invalid URI in request|request failed: [\w ]+?:?) (\w+) (\S+)(?: HTTP/[\d.]+)?", msg)
    if um:  # AH00126 and kin: the request Apache refused, which the access log may not show
        ev.update({"http.request.method": um.group(1), "url.original": um.group(2),
                   "url.path": um.group(2).split("?", 1)[0], "http.response.status_code": 400})
    if not cm:
        return
    if m := _APACHE_AUTH.match(rest):
        user = m.group("user") or m.group("user2") or m.group("user3")
        if user:
            ev["user.name"] = user
        ev.update({"event.category": "authentication", "event.outcome": "failure", "event.action": "http_auth"})
    elif _APACHE_DENIED.match(rest):
        ev.update({"event.category": "web", "event.type": "denied", "event.outcome": "failure",
                   "event.action": "access_denied"})
    elif _APACHE_TLS.match(rest):
        ev.update({"event.category": "network", "event.type": "denied", "event.outcome": "failure",
                   "event.action": "tls_probe"})
    elif m := _APACHE_MISSING.match(rest):  # the access log's 404, with the file the request mapped to
        ev.update({"event.outcome": "failure", "event.action": "file_not_found", "http.response.status_code": 404,
                   "file.path": m.group(1) or m.group(2) or m.group(3)})
    elif _APACHE_OVERFLOW.match(rest):
        ev.update({"event.type": "denied", "event.outcome": "failure", "event.action": "malformed_request"})
    elif _APACHE_SHELLSHOCK.search(rest):
        ev.update({"event.category": "intrusion_detection", "event.type": "denied", "event.outcome": "failure",
                   "event.action": "shellshock"})
    else:  # an application writing through Apache's error log; the client is Apache's [client] tag
        from garrison.parse import services

        services.classify_app_message(rest, ev)


_NGINX_ERROR = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d) \[(\w+)\] (\d+)#\d+: (.*)", re.S)
_NGINX_WAF = re.compile(r"\*\d+ (?:\[client [^\]]*\] )?ModSecurity: ")
_NGINX_REQUEST = re.compile(r', request: "([A-Z]+) (\S+)(?: HTTP/[\d.]+)?"')
# a request for a file that isn't there (nginx's 404), one a rule forbids, one over the rate limit
_NGINX_ABUSE = re.compile(r'(?P<file_not_found>open\(\) "[^"]*" failed \(2: No such file or directory\)|"[^"]*" is not found \(2: '
                          r'No such file or directory\))|(?P<access_forbidden>access forbidden by rule|directory index of "[^"]*" '
                          r'is forbidden)|(?P<rate_limited>limiting (?:requests|connections), excess)')


def parse_nginx_error(text: str, st: ParseState) -> Event:
    m = _NGINX_ERROR.match(text)
    if not m:
        raise ParseError("not an nginx error log line")
    y, mo, d, tod, level, pid, msg = m.groups()
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "web.error",
                 "event.category": "web", "event.type": "error", "log.level": level,
                 "@timestamp": iso_us(f"{y}-{mo}-{d}T{tod}Z"), "process.pid": int(pid), "message": msg}
    cm = re.search(r"client: ([0-9A-Fa-f:.]+)", msg)
    if cm and (ip := clean_ip(cm.group(1))):
        ev["source.ip"] = ip
    if _NGINX_WAF.match(msg):  # ModSecurity v3 in nginx
        waf.waf_message(msg, ev, st)
        return ev
    rm = _NGINX_REQUEST.search(msg)
    if rm:
        ev.update({"http.request.method": rm.group(1), "url.original": rm.group(2), "url.path": rm.group(2).split("?", 1)[0]})
    if am := _NGINX_ABUSE.search(msg):
        action = next(k for k, v in am.groupdict().items() if v)
        ev.update({"event.outcome": "failure", "event.action": action,
                   "http.response.status_code": {"file_not_found": 404, "access_forbidden": 403, "rate_limited": 503}[action]})
        if action != "file_not_found":
            ev["event.type"] = "denied"
        return ev
    um = re.search(r'user "([^"]*)"', msg)
    if um and ("was not found" in msg or "password mismatch" in msg):
        ev.update({"user.name": um.group(1), "event.category": "authentication",
                   "event.outcome": "failure", "event.action": "http_auth"})
    else:
        from garrison.parse import services

        services.classify_auth(msg, ev)  # PAM and other auth modules, TLS handshakes that went nowhere
    return ev


# Application logs that are not syslog: a timestamp in one of the common shapes, then a message.
_APP_STAMP = re.compile(
    r"(?:@[0-9a-f]{24}\s+"  # TAI64N (daemontools, dovecot)
    r"|(?:t=)?(?P<iso>\d{4}-\d\d-\d\d(?:[ T]|\s+)\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?):?(?:\s+|\|)"
    r"|\[(?P<isob>\d{4}-\d\d-\d\d[ T]\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]:?\s*"
    r"|<[A-Z]>(?P<isoc>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s+"  # Mumble
    r"|\[\w{3} [ \d]?\d \d\d:\d\d:\d\d\]\s+"  # asterisk
    r"|\[[A-Z]{3,4} \w{3} [ \d]?\d \d\d:\d\d:\d\d\]\s+"  # monit: [CEST Aug  6 10:14:52]
    r"|\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+"  # FreeSWITCH without the year
    r"|\[(?P<clf>\d\d[/-]\w{3}[/-]\d{4}[: ]\d\d:\d\d:\d\d(?: [+-]\d{4})?)\]:?\s+"
    r"|(?P<mysql>\d{6}\s+\d{1,2}:\d\d:\d\d)\s+"  # mysqld 130324  0:04:00
    r"|\w{3}-\d\d-\d\d \d\d:\d\d:\d\d\s+"
    r"|(?P<dmy>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\s+"
    r"|(?P<mdy>\d\d/\d\d/\d{4} \d\d:\d\d:\d\d)\s+"  # SquirrelMail
    r"|(?P<ymd_colon>\d{4}:\d\d:\d\d-\d\d:\d\d:\d\d):\s+"  # DirectAdmin
    r"|(?P<ymd_dot>\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d)\s+"  # stunnel
    r"|(?P<ctime>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})(?:\s+-)?\s+)")

# strptime formats for the stamps named above; the time is read as UTC where the log doesn't say.
_STAMP_FORMATS = {
    "clf": ("%d/%b/%Y:%H:%M:%S %z", "%d/%b/%Y:%H:%M:%S", "%d-%b-%Y %H:%M:%S"),
    "mysql": ("%y%m%d %H:%M:%S",), "dmy": ("%m-%d-%Y %H:%M:%S",), "mdy": ("%m/%d/%Y %H:%M:%S",),
    "ymd_colon": ("%Y:%m:%d-%H:%M:%S",), "ymd_dot": ("%Y.%m.%d %H:%M:%S",), "ctime": ("%a %b %d %H:%M:%S %Y",),
}


def app_stamp_us(m: re.Match[str]) -> int | None:
    """The time an application-log stamp gives, or None when it can't be read (the caller uses ingest time)."""
    for name in ("iso", "isob", "isoc"):
        if v := m.group(name):
            return strptime_us(v.replace(",", ".").replace("T", " "), "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z",
                               "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
    for name, fmts in _STAMP_FORMATS.items():
        if v := m.group(name):
            return strptime_us(v, *fmts)
    return None


def parse_applog(text: str, st: ParseState) -> Event:
    """A line of some application's own log: the time is read from its leading stamp (ingest time where the stamp
    has no date, as TAI64N or asterisk's), the message is kept, and authentication failures are recognised."""
    import time as _time

    from garrison.parse import services

    m = _APP_STAMP.match(text)
    if not m:
        raise ParseError("not an application log line with a leading timestamp")
    msg = text[m.end():]
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "app", "message": msg,
                 "@timestamp": app_stamp_us(m) or int(_time.time() * 1_000_000)}
    if "pam_unix(" in msg or "(pam_unix)" in msg:
        from garrison.parse import linux_auth

        linux_auth.parse_pam(msg[msg.index("pam_unix") - (msg[msg.index("pam_unix") - 1] == "("):], ev, st)
        return ev
    services.classify_auth(msg, ev)
    return ev


def decode_url(value: str) -> str:
    """Percent-decode twice (double-encoding is a common evasion)."""
    once = unquote(value)
    return unquote(once) if "%" in once else once


# Squid's native access log: time elapsed client action/code size method URL ident hierarchy/peer type
SQUID = re.compile(r"(\d{9,10}\.\d{3})\s+(\d+)\s+(\S+)\s+([A-Z_]+)/(\d{3})\s+(\d+)\s+([A-Z]+|-)\s+(\S+)\s+(\S+)\s+"
                   r"([A-Z_]+)/(\S+)(?:\s+(\S+))?")


def parse_squid(text: str, st: ParseState) -> Event:
    m = SQUID.match(text)
    if not m:
        raise ParseError("not a Squid access log line")
    ts, elapsed, client, action, code, size, method, url, ident, _hier, peer, ctype = m.groups()
    status = int(code)
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "web.proxy", "event.category": "web",
                 "event.type": "access", "event.action": action.lower(), "@timestamp": int(float(ts) * 1_000_000),
                 "event.duration": int(elapsed) * 1_000_000, "http.response.status_code": status,
                 "http.response.bytes": int(size), "url.original": url, "observer.type": "proxy", "observer.product": "squid"}
    if ip := clean_ip(client):
        ev["source.ip"] = ip
    if method != "-":
        ev["http.request.method"] = method
    if ident != "-":
        ev["user.name"] = ident
    if peer != "-" and (pip := clean_ip(peer)):
        ev["destination.ip"] = pip
    if ctype and ctype != "-":
        ev["http.response.mime_type"] = ctype
    host = re.match(r"(?:\w+://)?([^/:?#]+)", url)
    if host and (url.startswith(("http://", "https://", "ftp://")) or method == "CONNECT" and re.fullmatch(r"[^/:]+:\d+", url)):
        ev["url.domain"] = host.group(1)
    if "DENIED" in action or status in (403, 405, 407):
        ev.update({"event.type": "denied", "event.outcome": "failure"})
    elif status < 400:
        ev["event.outcome"] = "success"
    else:
        ev["event.outcome"] = "failure"
    return ev
