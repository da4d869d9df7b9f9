"""Web attacks in HTTP requests: SQL injection, XSS, path traversal/LFI, RFI, command injection,
PHP and Java injection (Log4Shell included).

Every part a client controls (path, query, body, cookies, user agent, referer) is decoded first —
URL encoding (repeatedly, as attackers double-encode), HTML entities, \\uXXXX / %uXXXX escapes and
overlong UTF-8 — then matched against Garrison's own signatures, each written as an RE2 pattern so that
hostile input can't make matching slow. A request may belong to several classes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

import re2

_OPTS = re2.Options()
_OPTS.case_sensitive = False
_OPTS.log_errors = False

CLASSES = ("sqli", "xss", "lfi", "rfi", "rce", "php", "java")
ATTACK = {  # ATT&CK for every class: exploitation of a public-facing application
    c: ("initial-access", "T1190") for c in CLASSES
}

_SIGS: dict[str, list[str]] = {
    "sqli": [
        r"\bunion\b[\s(+]*(?:all|distinct)?[\s(+]*\bselect\b",
        r"\bselect\b[\s\S]{1,400}?\bfrom\b[\s\S]{0,80}?\b(?:information_schema|mysql|sys|dual|pg_|sqlite_master|users?|admin)",
        r"\bselect\b\s*(?:\*|@@|[\w`\"\[\]]+\s*,|\w+\s*\(|count|top\b|distinct|case\b|if\s*\(|null|\d)",
        r"['\"`)]\s*(?:or|and|xor|\|\||&&|div|like|rlike|regexp|sounds\s+like)\b[\s\S]{0,40}?(?:[=<>]|\blike\b|\bin\b|\bis\b|\bbetween\b|\d|['\"]|\btrue\b|\bfalse\b|\bnull\b)",
        r"\b(?:or|and|xor|\|\||&&)\s+['\"]?\w+['\"]?\s*(?:[=<>!]=?|<>|\blike\b|\bregexp\b)\s*['\"]?\w*",
        r"\b(?:or|and)\s+\d+\s*[=<>]\s*\d+",
        r"\b(?:or|and)\s+(?:true|false|not\b|isnull\(|exists\s*\()",
        r"['\"`)]\s*;\s*(?:select|insert|update|delete|drop|create|alter|exec|execute|declare|shutdown|truncate|waitfor|begin|set)\b",
        r";\s*(?:drop|truncate|alter)\s+(?:table|database|schema|user)\b",
        r"\binsert\s+into\b[\s\S]{1,200}?\bvalues?\b",
        r"\bdelete\s+from\b", r"\bupdate\b\s+[\w`\"\[\].]+\s+\bset\b\s+[\w`\"\[\]]+\s*=",
        r"\b(?:drop|create|alter|truncate)\s+(?:table|database|schema|procedure|function|user|view|index)\b",
        r"\b(?:sleep|benchmark|pg_sleep|waitfor\s+delay|dbms_pipe\.receive_message|randomblob)\s*[(']",
        r"\b(?:load_file|into\s+(?:out|dump)file|extractvalue|updatexml|exp\s*\(\s*~|geometrycollection|polygon|multipoint|name_const|json_keys|utl_http|utl_inaddr|dbms_\w+|xp_\w+|sp_\w+|openrowset|opendatasource|sys_eval|sys_exec)\b",
        r"\b(?:information_schema|mysql\.user|sysobjects|syscolumns|sysusers|pg_catalog|pg_shadow|sqlite_master|all_tables|user_tables)\b",
        r"@@(?:version|datadir|hostname|basedir|tmpdir|servername|spid|language)\b",
        r"\b(?:char|chr|nchar|concat|concat_ws|group_concat|cast|convert|ascii|ord|hex|unhex|substring|substr|mid|left|right|version|database|user|current_user|system_user|session_user)\s*\([\s\S]{0,80}?\)",
        r"/\*!?\d*[\s\S]*?\*/\s*(?:select|union|and|or|from|where)",
        r"['\"`]\s*(?:--|#|/\*)", r"\d\s*(?:--\s|--$|/\*)", r"\border\s+by\s+\d+\s*(?:--|#|$|,)", r"\bhaving\s+\d+\s*=\s*\d+",
        r"\bgroup\s+by\b[\s\S]{0,60}?\bhaving\b", r"['\"]\s*(?:\|\||\+|&)\s*['\"(]", r"\bcase\s+when\b[\s\S]{0,100}?\bthen\b",
        r"\bexec(?:ute)?\s*(?:\(|\s+(?:master|xp_|sp_|@))", r"\bdeclare\s+@\w+", r"\bwaitfor\s+(?:delay|time)\b",
        r"['\"]\s*(?:=|<>|!=|<|>)\s*['\"]", r"\bin\s*\(\s*select\b", r"\bnull\s*,\s*null\b",
        r"\b(?:and|or)\b\s*\(?\s*\d+\s*\)?\s*(?:=|<|>)", r"\blike\s+['\"]%", r"['\"]\s*(?:and|or|xor)\s*['\"]",
    ],
    "xss": [
        r"<\s*/?\s*(?:script|iframe|frame|frameset|object|embed|applet|svg|math|style|link|meta|base|form|isindex|marquee|xss|vmlframe|body|img|image|video|audio|source|input|button|details|dialog|template|textarea|select|keygen|table|td|a|div|span|p|x)\b[^>]*?(?:\bon[a-z]+\s*=|\b(?:src|href|data|action|formaction|xlink:href|background|lowsrc|dynsrc|style)\s*=|>|/)",
        r"<\s*script\b", r"\bjavascript\s*:", r"\bvbscript\s*:", r"\blivescript\s*:", r"\bmocha\s*:",
        r"\bon(?:error|load|mouseover|mouseout|mousedown|mouseup|click|dblclick|focus|blur|change|submit|reset|select|keydown|keyup|keypress|abort|unload|resize|scroll|toggle|animationstart|animationend|transitionend|begin|end|pointer\w*|drag\w*|drop|input|invalid|search|wheel|copy|cut|paste|show|start|finish|message|hashchange|pageshow|popstate|storage|beforeprint|afterprint|loadstart|progress|canplay|play|playing|pause|seeked|seeking|ended|durationchange|timeupdate|volumechange|readystatechange|auxclick|contextmenu|fullscreenchange|loadend|mouseenter|mouseleave|touch\w*|zoom|activate|beforeactivate|focusin|focusout|filterchange|propertychange|datasetcomplete|cellchange|rowenter|bounce|move|mousewheel)\s*=",
        r"\b(?:alert|prompt|confirm|eval|settimeout|setinterval|execscript|msgbox|fromcharcode|atob|unescape|decodeuri\w*)\s*(?:\(|`)",
        r"\bdocument\s*\.\s*(?:cookie|write|writeln|location|domain|body|forms|referrer)", r"\bwindow\s*\.\s*(?:location|open|name)\b",
        r"\b(?:expression|url)\s*\(\s*['\"]?\s*(?:javascript|vbscript|data)", r"\bdata\s*:\s*(?:text/html|image/svg|application/x)",
        r"-moz-binding\s*:", r"\bbehavior\s*:\s*url", r"<!\[cdata\[", r"<\s*\?xml\b[\s\S]*?<\s*\w+[^>]*\bxmlns",
        r"\bstyle\s*=[^>]*?(?:expression|javascript|behavior|binding)", r"\b(?:top|self|parent|frames)\s*\[\s*['\"]\w+['\"]\s*\]",
        r"\binnerhtml\s*=|\bouterhtml\s*=|\.\s*src\s*=", r"\bconstructor\s*\.\s*constructor\b|\[\s*['\"]constructor['\"]\s*\]",
        r"<\s*[a-z]+[^>]*\s(?:on[a-z]+|formaction)\s*=", r"\{\{[\s\S]*?(?:constructor|\$on|alert|\$eval)[\s\S]*?\}\}",
    ],
    "lfi": [
        r"(?:^|[\\/=\s'\"(])\.\.[\\/]", r"[\\/]\.\.(?:[\\/]|$)", r"\.\.(?:\\\\|%5c|%2f|;/)",
        r"(?:^|[\\/])etc[\\/]+(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|fstab|mysql|apache2?|nginx|httpd|php|ssh|ssl|init\.d|resolv\.conf|hostname|environment|network|security|syslog|profile|bashrc|os-release|lsb-release|master\.passwd|pwd\.db|spwd\.db)",
        r"(?:^|[\\/])(?:proc|sys)[\\/]+(?:self|\d+|version|cpuinfo|meminfo|net|mounts|cmdline|environ|fd|kernel)",
        r"(?:^|[\\/])(?:var[\\/]+(?:log|www|lib|mail|spool|run)|usr[\\/]+local|root[\\/]|home[\\/]+\w+[\\/]\.)",
        r"[a-z]:\\+(?:windows|winnt|boot\.ini|inetpub|program files|users|documents and settings)",
        r"\b(?:boot\.ini|win\.ini|system\.ini|autoexec\.bat|web\.config|\.htaccess|\.htpasswd|\.bash_history|\.ssh[\\/]|id_rsa|authorized_keys|\.git[\\/]|\.svn[\\/]|\.env\b|wp-config\.php|config\.inc\.php|localsettings\.php|\.DS_Store)",
        r"\b(?:php|file|zip|phar|glob|expect|data|compress\.zlib|compress\.bzip2|ogg|rar|ssh2(?:\.\w+)?|jar|netdoc)\s*:[\\/]{0,2}",
        r"\x00", r"(?:^|[\\/])\.\.[\\/]?$", r"(?:\.\.){2,}[\\/]?(?:etc|windows|winnt|boot|proc|var|usr|home|root)",
        r"\betc[\\/]*passwd\b|\betc[\\/]*shadow\b|\.\.+oot\.ini|\bc:\\*(?:windows|winnt)\\*(?:win|system)\.ini",
    ],
    "rfi": [
        r"(?:^|[=?&\s(\"'])(?:https?|ftps?|ftp|php|data|gopher|dict|ldap|smb|sftp|tftp|file|zlib|expect)\s*:\s*[\\/]{2}(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[0-9a-f:]+\])",
        r"\b(?:include|require|file|page|path|template|doc|document|folder|root|pg|style|pdf|php_path|inc|mod|conf|dir|show|site|view|content|url|uri|redirect|load|read|lang|language|layout|module|src|source|data|target|cat|action|board|date|detail|download|prefix|type|val|validate|nav|next|open|return|to|out|feed|host|port|dest|continue|window|reference|site|html|callback|return_to|checkout_url|image_url|go|proxy)\s*=\s*(?:https?|ftps?|ftp|gopher|dict|smb|ldap|sftp|tftp)\s*:\s*[\\/]{2}",
        r"(?:https?|ftps?|ftp)\s*:\s*[\\/]{2}[^\s?&]+\?\s*$", r"(?:https?|ftps?|ftp)\s*:\s*[\\/]{2}[^\s]*?\?\?",
        r"=\s*(?:https?|ftp)s?\s*:\s*[\\/]{2}[^\s&]*\.(?:txt|php|gif|jpg|png|sh|pl|py|cgi)\?",
    ],
    "rce": [
        r"(?:^|[;|&`\n\r(){}$]|\|\||&&|\$\(|\bdo\b|\bthen\b|\belse\b)\s*(?:[\w./\\]*[\\/])?(?:ls|dir|cat|tac|more|less|head|tail|nl|od|xxd|strings|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|ps|w|who|last|pwd|env|printenv|set|echo|printf|wget|curl|fetch|lwp-\w+|nc|ncat|netcat|socat|telnet|ssh|scp|ftp|tftp|bash|sh|zsh|ksh|csh|tcsh|dash|ash|busybox|python\d?(?:\.\d+)?|perl|ruby|php\d?|lua|node|nodejs|java|gcc|cc|make|chmod|chown|chgrp|rm|mv|cp|mkdir|touch|ln|kill|killall|pkill|nohup|crontab|sudo|su|passwd|useradd|usermod|mount|umount|find|grep|egrep|fgrep|awk|gawk|sed|xargs|tee|base64|openssl|nmap|ping|nslookup|dig|host|traceroute|tracert|sleep|timeout|eval|exec|source|export|alias|unset|systemctl|service|iptables|net|netsh|reg|sc|tasklist|taskkill|wmic|powershell|pwsh|cmd|certutil|bitsadmin|mshta|rundll32|regsvr32|cscript|wscript|schtasks|at|type|copy|del|erase|ren|rd|vssadmin|icacls|attrib|whois|sftp|rsync|git|svn|apt|apt-get|yum|dnf|pip|npm|docker|kubectl|tar|zip|unzip|gzip|gunzip|bzip2|7z|dd|shred|mkfifo|mknod|xterm|script|expect|tclsh|wish|irb|jrunscript|jjs|sqlplus|mysql|psql|sqlite3|mongo|redis-cli|tcpdump|tshark|arp|route|ip|ss|lsof|fuser|strace|ltrace|gdb|objdump|readelf|file|stat|du|df|free|top|uptime|dmesg|journalctl|sysctl|modprobe|insmod|lsmod|chattr|lsattr|setfacl|getfacl|id)(?:\.exe)?(?:$|[\s;|&<>`'\"),]|\$\{?ifs)",
        r"`[^`]{1,200}`", r"\$\(\s*[\w/.-]+", r"\$\{\s*ifs\s*\}|\$ifs\b|\$\{?ifs\b", r"\$\{?(?:path|home|shell|user|pwd|0|#|\*|@)\}?\b",
        r"(?:^|[\s;|&`'\"(])/(?:bin|sbin|usr|etc|dev|proc|tmp|var|opt|lib)/[\w?*\[\]./-]*(?:sh|bash|nc|cat|passwd|shadow|tcp|udp|null|python|perl|ruby|php|wget|curl|id|ls|ps)\b",
        r"/\?\?\?/|/\?\?\?\?/|/[a-z?*]*[?*][a-z?*]*/[a-z?*]*[?*]", r"/dev/(?:tcp|udp)/", r"\b(?:nc|ncat|netcat)\b[\s\S]{0,40}?\s-[a-z]*e\b",
        r"\bcmd(?:\.exe)?\s*/[ck]\b", r"\bpowershell(?:\.exe)?\b[\s\S]{0,80}?(?:-e(?:nc|ncodedcommand)?\b|-c(?:ommand)?\b|iex\b|invoke-|downloadstring|downloadfile|-nop\b|-w(?:indowstyle)?\s+hidden|bypass)",
        r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|os\.system|os\.popen|subprocess\.\w+|runtime\.getruntime|processbuilder|child_process|spawn|execsync|spawnsync)\s*[(\.]",
        r"[;|&]\s*(?:\w+\s*=\s*\S+\s+)?(?:sh|bash)\s+-[ic]\b", r"(?:^|[;|&])\s*(?:for|while|until)\s+[\s\S]{1,80}?;\s*do\b",
        r"\|\s*(?:sh|bash|zsh|ksh|python\d?|perl|ruby|php)\b", r"(?:>|>>)\s*/(?:tmp|var/tmp|dev/shm|etc|var/www)/",
        r"\b(?:wget|curl)\b[\s\S]{0,40}?(?:https?|ftp)://", r"\btftp\s+-[gi]\b", r"\bchmod\s+[+0-7]",
        r"\{[a-z]+,[^}]*\}", r"\$\{[a-z_]+(?::[-=?+][^}]*)?\}", r"\b(?:echo|printf)\b[\s\S]{0,200}?\|\s*(?:base64|xxd|sh|bash)\b",
        r"(?:^|[;|&`(])\s*\.\s*/[\w.-]+", r"<\s*\(\s*\w+", r"\b(?:rm|del)\s+-[rf]{1,2}\b", r"\\x[0-9a-f]{2}\\x[0-9a-f]{2}\\x[0-9a-f]{2}",
        r"[;|&]\s*(?:[a-z]{2,10}\s+)?-[a-z]{1,3}\s+['\"]?\w", r"(?:^|[;|&\n])\s*!\s*\w+",
    ],
    "php": [
        r"<\?(?:php|=)?(?:\s|$)", r"\?>", r"\bphp://(?:input|filter|memory|temp|stdin|fd)",
        r"\b(?:eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|preg_replace|create_function|call_user_func(?:_array)?|array_map|array_filter|usort|uasort|base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|convert_uudecode|file_get_contents|file_put_contents|fopen|fwrite|fputs|readfile|file|show_source|highlight_file|phpinfo|include|include_once|require|require_once|move_uploaded_file|unserialize|extract|parse_str|putenv|ini_set|set_time_limit|ignore_user_abort|mail|header|setcookie|var_dump|print_r|var_export|error_reporting|getenv|get_defined_vars|posix_\w+|symlink|chmod|chown|unlink|rmdir|mkdir|copy|rename|touch|opendir|readdir|scandir|glob|curl_exec|curl_init|fsockopen|pfsockopen|socket_create|stream_socket_client|dl|apache_setenv|mb_ereg_replace|ob_start|register_shutdown_function|register_tick_function|forward_static_call|func_get_args|session_start|md5|sha1|crc32|strrev|chr|ord|hex2bin|bin2hex|urldecode|rawurldecode)\s*(?:\(|/\*)",
        r"\$_(?:get|post|request|cookie|server|files|env|session)\b", r"\$globals\b", r"\$\{?\s*['\"]?\w+['\"]?\s*\}?\s*\(",
        r"\b(?:o|c|a|s|i|d|b|n|r)\s*:\s*\d+\s*:\s*['\"{]", r"\b__(?:construct|destruct|wakeup|tostring|call|get|set|invoke)\b",
        r"\bphp\s*:\s*/{0,2}", r"(?:^|[^\w])\$\w+\s*\(\s*\$", r"\b(?:auto_prepend_file|auto_append_file|allow_url_include|safe_mode|open_basedir|disable_functions)\b",
    ],
    "java": [
        r"\$\{[\s\S]{0,80}?(?:jndi|ldap|rmi|dns|iiop|corba|nds|nis|lower|upper|env|sys|java|base64|date|main|marker|bundle|ctx|spring|kubernetes|docker|web|log4j|sd|event|map|::-)",
        r"\$\{\s*\$\{", r"j\W{0,20}n\W{0,20}d\W{0,20}i\W{0,20}:", r"\bjava\.(?:lang|io|net|nio|util|beans|rmi)\.\w+",
        r"\bjavax?\.(?:script|naming|management|xml|swing|sql)\b", r"\b(?:runtime|processbuilder)\s*[.(]", r"\bgetruntime\s*\(",
        r"\bclass\s*\.\s*(?:module|classloader|forname|getmethod|getdeclaredmethod|newinstance)\b", r"\bclassloader\b",
        r"\b(?:org\.apache\.commons\.collections|org\.springframework|com\.sun\.|sun\.misc|com\.opensymphony|ognl|xwork|freemarker|org\.codehaus\.groovy|groovy\.lang|org\.mozilla\.javascript|bsh\.|com\.alibaba\.fastjson|com\.fasterxml\.jackson|org\.apache\.xalan|org\.apache\.xbean|org\.hibernate|com\.mchange|org\.jboss|weblogic|org\.apache\.tomcat|org\.apache\.catalina)\b",
        r"#_?memberaccess|@ognl|#context\b|#request\b|#response\b|#parameters\b|#attr\b|#session\b|#application\b|%\{[\s\S]{1,200}?\}",
        r"\bro0ab|aced0005|\\xac\\xed\\x00\\x05|h4sia|yv66vg|cafebabe",
        r"<\s*(?:java|object\s+class|void\s+method|string|class)\b[^>]*>[\s\S]{0,200}?(?:java\.|runtime|processbuilder|getruntime)",
        r"\b(?:invoker|transformer|chainedtransformer|invokertransformer|constanttransformer|lazymap|priorityqueue|templatesimpl|badattributevalueexpexception|annotationinvocationhandler)\b",
        r"\bt\s*\(\s*java\.", r"new\s+java\.", r"\bscriptenginemanager\b|\bnashorn\b", r"\.exec\s*\(\s*['\"\[]",
        r"\{\s*['\"]?@type['\"]?\s*:", r"\bxmldecoder\b|\bxstream\b", r"\bjsessionid\s*=\s*[^;]*[<>'\"]",
        r"\b(?:struts|xwork2)\.", r"\$\{[\w.]+\([\s\S]*?\)\}", r"\bthread\.sleep\s*\(",
    ],
}
PATTERNS = {c: re2.compile("|".join(f"(?:{p})" for p in pats), _OPTS) for c, pats in _SIGS.items()}

_UESC = re.compile(r"(?:\\u|%u)([0-9a-fA-F]{4})")
_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")
_WS = re.compile(r"\s+")
_SQL_COMMENT = re.compile(r"/\*!?\d*|\*/")
_SHELL_NOISE = re.compile(r"(?<=\w)['\"\\^]+(?=\w)|(?<=\w)\$@|\$\{?ifs\}?|\$\(\)|''|\"\"", re.I)


def decode(value: str, rounds: int = 3) -> str:
    """URL (repeatedly), \\u/%u and \\x escapes, then HTML entities."""
    s = value
    for _ in range(rounds):
        t = unquote_plus(s, errors="replace") if "%" in s or "+" in s else s
        t = _UESC.sub(lambda m: chr(int(m.group(1), 16)), t)
        if t == s:
            break
        s = t
    if "&" in s:
        s = html.unescape(html.unescape(s))
    if "\\x" in s:
        s = _HEX.sub(lambda m: chr(int(m.group(1), 16)), s)
    return s


@dataclass(frozen=True)
class WebFinding:
    cls: str
    part: str  # which part of the request: path, query, body, cookie, user_agent, referer, header
    sample: str


def views(text: str) -> tuple[str, ...]:
    """The decoded text, and variants with SQL comments and shell quoting noise removed."""
    d = decode(text)
    flat = _WS.sub(" ", d)
    out = [flat]
    nc = _SQL_COMMENT.sub(" ", flat)
    if nc != flat:
        out.append(nc)
    sh = _SHELL_NOISE.sub("", d)
    if sh != d:
        out.append(_WS.sub(" ", sh))
    return tuple(out)


def classify(parts: dict[str, str], classes: tuple[str, ...] = CLASSES) -> list[WebFinding]:
    """The attack classes found in the named parts of one request."""
    found: dict[str, WebFinding] = {}
    for part, text in parts.items():
        if not text:
            continue
        for v in views(text):
            for c in classes:
                if c in found:
                    continue
                m = PATTERNS[c].search(v)
                if m is not None:
                    found[c] = WebFinding(c, part, v[max(0, m.start() - 20): m.end() + 20])
    return list(found.values())


TITLES = {"sqli": "SQL injection attempt", "xss": "Cross-site scripting attempt", "lfi": "Path traversal / local file inclusion attempt",
          "rfi": "Remote file inclusion attempt", "rce": "Command injection attempt", "php": "PHP code injection attempt",
          "java": "Java / Log4Shell injection attempt"}
_WEB_FIELDS = (("path", "url.path"), ("query", "url.query"), ("user_agent", "user_agent.original"),
               ("referer", "http.request.referrer"), ("body", "http.request.body.content"))


def level_for(status: object) -> str:
    """An injection the server refused (4xx/5xx) is an attempt that failed: medium. One it answered with
    success, or whose answer the log doesn't give, may have worked: high."""
    return "medium" if isinstance(status, int) and status >= 400 else "high"


def web_attack_stage(batch):  # type: ignore[no-untyped-def]
    """Pipeline stage: a detection per attack class found in each web request of the batch."""
    from garrison.model.detection import Detection

    for ev in batch.events:
        if "url.original" not in ev and "url.path" not in ev:
            continue
        parts = {name: ev[key] for name, key in _WEB_FIELDS if isinstance(ev.get(key), str)}
        for f in classify(parts):
            tactic, technique = ATTACK[f.cls]
            batch.detections.append(Detection(
                rule_id=f"garrison.web.{f.cls}", rule_title=TITLES[f.cls],
                level=level_for(ev.get("http.response.status_code")),
                tags=[f"attack.{tactic}", f"attack.{technique.lower()}", "garrison.web-attack", f"garrison.web.{f.cls}"],
                timestamp=ev.get("@timestamp") or 0, event=ev, kind="detector",
                source_file=ev.get("log.file.path"), source_record=ev.get("log.file.line"),
                extra={"part": f.part, "sample": f.sample[:300]}))
