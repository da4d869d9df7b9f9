"""Web attacks in HTTP requests: SQL injection, XSS, path traversal/LFI, RFI, command injection,
PHP and Java injection (Log4Shell included).

Every part a client controls (path, query, body, cookies, user agent, referer) is decoded first —
URL encoding (repeatedly, as attackers double-encode), HTML entities, \\uXXXX / %uXXXX escapes and
overlong UTF-8 — then matched against Garrison's own signatures, each written as an RE2 pattern so that
hostile input can't make matching slow. A request may belong to several classes.
"""

from __future__ import annotations

import base64
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
        r"['\"`]\s*(?:or|and|xor|\|\||&&|div|like|rlike|regexp|sounds\s+like)\b[\s\S]{0,40}?(?:[=<>]|\blike\b|\bin\b|\bis\b|\bbetween\b|\d|['\"]|\btrue\b|\bfalse\b|\bnull\b)",
        r"\)\s*(?:or|and|xor|\|\||&&)\s*\(?\s*['\"\w]+['\"]?\s*(?:[=<>]|\blike\b|\bis\b|\bbetween\b)",
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
        r"\b(?:chr|nchar|concat|concat_ws|group_concat|ascii|hex|unhex|substring|substr|database|current_user|system_user|session_user)\s*\([\s\S]{0,80}?\)",
        r"\b(?:char|cast|convert|ord|mid|left|right|version|user)\([\s\S]{0,80}?\)",
        r"/\*!?\d*[\s\S]*?\*/\s*(?:select|union|and|or|from|where)",
        r"['\"`]\s*(?:--|#|/\*)", r"\d\s*(?:--\s|--$|/\*)", r"\border\s+by\s+\d+\s*(?:--|#|$|,)", r"\bhaving\s+\d+\s*=\s*\d+",
        r"\bgroup\s+by\b[\s\S]{0,60}?\bhaving\b", r"['\"]\s*(?:\|\||\+|&)\s*['\"(]", r"\bcase\s+when\b[\s\S]{0,100}?\bthen\b",
        r"\bexec(?:ute)?\s*(?:\(|\s+(?:master|xp_|sp_|@))", r"\bdeclare\s+@\w+", r"\bwaitfor\s+(?:delay|time)\b",
        r"['\"]\s*(?:=|<>|!=|<|>)\s*['\"]", r"\bin\s*\(\s*select\b", r"\bnull\s*,\s*null\b",
        r"\b(?:and|or)\b\s*\(?\s*\d+\s*\)?\s*(?:=|<|>)", r"\blike\s+['\"]%", r"['\"]\s*(?:and|or|xor)\s*['\"]",
        # SQL's own function names called: no form field has a reason to say "group_concat(" or "ifnull("
        r"(?:^|[^\pL\pN_])(?:concat|concat_ws|group_concat|coalesce|ifnull|isnull|nullif|nvl|nvl2|substr|substring|substring_index|md5|sha1|sha2|hex|unhex|rand|sysdate|xmltype|compress|uncompress|make_set|strcmp|rtrim|ltrim|elt|pow|instr|locate|ascii|chr|nchar|char_length|octet_length|current_user|database|db_name|schema_name|user_name|suser_name|sleep|benchmark|extractvalue|updatexml|json_\w+|jsonb_\w+|sqlite_\w+|find_in_set|unistr|starts_with|lo_get|lo_import|lo_export|soundex|from_base64|to_base64|crc32|bit_length|aes_encrypt|aes_decrypt|des_encrypt|old_password|last_insert_id|row_count|found_rows|connection_id|system_user|session_user|current_database|current_schema|pg_\w+|utl_\w+|sys_context|dbms_\w+)\s*\(\s*(?:$|['\"`\w@(*-])",
        # names that are also words count when written as code: "cast(" or "version()", not "convert (0.46 miles)"
        r"(?:^|[^\pL\pN_])(?:cast|convert|char|mid|ord|sin|cos|abs|floor|ceil|ceiling|power|decode|encode|greatest|least|encrypt)\((?:$|['\"`\w@(*-])",
        r"\b(?:version|user|database|schema|now|pi|uuid|rand|sysdate|current_user|connection_id|last_insert_id|row_count|found_rows)\s*\(\s*\)",
        # an ordinary word used as one, only where the value ends at the call: "round (" or "date(" and nothing after
        r"\b(?:date|time|user|left|right|round|count|values|format|local|replace|year|month|minute|second|hour|day|quarter|week|max|min|sum|avg|upper|lower|log|ln|exp|sqrt|default|if|in|trim|insert|len|ucase|lcase|char|cast|convert|password|length|position|field|quote|version|sin|cos|abs|floor|mid|ord)\s*\(\s*$",
        r"\[\s*\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|not|nor|or|and|elemmatch|text|expr|type|size|all|options)\s*\]",
        r"[\"']\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|not|nor|or|and|elemmatch|text|expr|jsonschema|function|accumulator)[\"']\s*:",
        r"::\s*(?:int|int2|int4|int8|integer|bigint|smallint|text|varchar|char|bool|boolean|bytea|jsonb?|double\s+precision|numeric|regclass|oid|xml|name)\b",
        r"['\"`)]\s*(?:->>?|#>>?|@>|<@|\?\||\?&|#-|@\?|@@)\s*['\"`\d]|\bjson_extract\s*\(",
        r"\b(?:tempdb|msdb|northwind|msysaccessobjects|msysobjects|msysqueries|msysrelationships|mysql\.db|pg_database|pg_tables|sysdatabases|systables|syscat)\b",
        r"\bprocedure\s+analyse\b", r"\(\s*select\b", r"\bselect\s*\(\s*case\b", r"\bif\s*\(\s*\d+\s*[=<>]", r"\)\s*like\s*\(",
        r"[`'\"]\s*(?:regexp|rlike|sounds\s+like|glob|not\s+(?:like|glob|regexp|between|in)|is\s+not|is\s+null|notnull|collate|mod|div)\b",
        r"['\"`][^'\"`]{0,60}--\s*-?\s*$", r"(?:^|[\s=])(?:or|and)\s+\d+\s*(?:#|--)", r";\s*(?:drop|truncate|shutdown)\b",
        r"\bdrop\s+\w+\s*;\s*(?:--|#|$)", r"\bvalues\s*\(\s*(?:'[^']*'|\d+)\s*,", r"[)\d'\"`!]\s*\bas\s*[\"'`]?\w*[\"'`]?\s+from\b",
        r"\border\s+by\s*$", r"\border\s+by\s+[\w`'\"]+\s*(?:,\s*[\w`'\"]+|\b(?:asc|desc)\b|--|#)", r"['\"]\s*union\s*(?:all|select|distinct|[/(])|['\"]\s*alter\s*(?:table|database|user|[/(])",
        r"\bin\s*\(\s*-?\d+\s*(?:,\s*-?\d+\s*)+\)", r"\blike\s+null\b", r"(?:^|;)\s*set\s+@\w+",
        r"['\"]\s*\?[|&]?\s*(?:['\"]|array\b)", r"(?:^|=)(?:-?0000023456|4294967295|4294967296|2147483648|2147483647|0000012345|-2147483648|-2147483649|2\.2250738585072007e-308|2\.2250738585072011e-308|1e309)(?:$|&)",
        r"['\"`]\s*;\s*(?:$|&)", r"['\"`]\s*;?\s*(?:having|select|union\s*(?:all|distinct|select))\b\s*\S", r"\bselect\s*pg_sleep\b", r"\bschema_name\b",
        r"\bexecute\s+immediate\s*['\"`]", r"\bmerge\b[\s\S]{0,100}?\busing\s*\(", r"\bmatch\s*[\w(),+-]+\s*against\s*\(",
        r"\bdiv\s*\(\s*[+-]*[\d.\s]+,\s*[+-]*[\d.\s]+\)", r"\b1\.e(?:[(),]|\.[\w$])", r"/\*!\d{0,5}\s*\w",
    ],
    "xss": [
        r"<\s*/?\s*(?:\w+:)?(?:script|iframe|frame|frameset|object|embed|applet|svg|math|style|link|meta|base|form|isindex|marquee|xss|vmlframe|body|img|image|video|audio|source|input|button|details|dialog|template|textarea|select|keygen|table|td|a|div|span|p|x)\b[^>]*?(?:\bon[a-z]+\s*=|\b(?:src|href|data|action|formaction|xlink:href|background|lowsrc|dynsrc|style|http-equiv)\s*=|>|/)",
        r"<\s*script\b", r"<\s*noscript\b", r"<!--\s*#\s*(?:exec|include|echo|set|config|printenv)\b",
        r"<!entity\b|!entity\s+%?\s*\w+\s+system\b|<\s*\w*:?include\b[^>]*\bhref\s*=|\bxsi:schemalocation\s*=\s*[\"'][^\"']*\b(?:https?|ftp)://",
        r"<\s*\??\s*import\b[^>]*\bimplementation\b", r"\+?\badw-\s*/?\s*(?:script|img|svg|iframe)\b",
        r"<[^\w>]*(?:\w+:\s*)?(?:s\s+c\s*r\s*i\s*p\s*t|f\s+o\s*r\s*m|d\s+i\s*a\s*l\s*o\s*g|i\s+f\s*r\s*a\s*m\s*e|o\s+b\s*j\s*e\s*c\s*t|e\s+m\s*b\s*e\s*d|s\s+v\s*g)\b",
        r"<\s*\w+\s*:\s*script\b", r"<[^>]*[\s\"'/`](?:on[a-z]{3,}|formaction)\s*=", r"(?:^|[\s\"'`;/0-9])on[a-z]{3,40}\s*=\s*[^=\s]",
        r"\b(?:document|window|self|top|parent|frames|globalthis|this)\s*\)?\s*\[\s*[\"'`]\w*[\"'`$]*\s*\]",
        r"\bdocument\s*\.\s*(?:queryselector(?:all)?|getelementbyid|getelementsby\w+|createelement|implementation|defaultview)\b",
        r"\.\s*call\s*`|\breflect\s*\.\s*\w+\s*(?:\.\s*call\b|\()|\$\{\s*(?:alert|eval|prompt|confirm|navigation\.\w+)\s*\}",
        r"!\s*!\s*\[\s*\]|\(\s*!\s*\[\s*\]\s*\+?\s*\[\s*\]\s*\)|\[\s*!\s*\[\s*\]", r"\bnew\s+function\s*\(", r"\bbtoa\s*\(", r"\bjavascript\s*:", r"\bvbscript\s*:", r"\blivescript\s*:", r"\bmocha\s*:",
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
        r"(?:^|[/\\])\.(?:claude|cursor|continue|aider|roo|zed|cline|kiro|windsurf|rovodev|codex|opencode|plandex|n8n|junie|docker|aws|azure|kube|gnupg|npmrc|pypirc|netrc|git-credentials|bash_history|zsh_history|mysql_history|psql_history|aiignore|cursorignore|vscode|idea)(?:[/\\.]|$)",
        r"(?:^|[/\\])(?:proc[/\\]+(?:interrupts|\w+info|partitions|devices|modules|stat|uptime|loadavg|swaps|filesystems)|sys[/\\]+(?:class|devices|kernel|block|bus|firmware|module|power|fs))\b",
        r"(?:^|[/\\=])etc[/\\]+(?:subuid|subgid|gshadow|shells|login\.defs|pam\.d|sysconfig|apt|yum)",
        r"\b[\w-]+\.(?:sql|bak|old|swp|dump)(?:\.(?:zip|gz|tgz|tar|7z|rar|bz2|xz))?(?:$|[\s&?#\"'])",
        r"/wp-content/(?:debug|error|errors)\.log\b|/@fs/|/@id/__x00__|\.\.;|0x5c0x2e|0x2e0x2e|0x2e0x2f",
    ],
    "rfi": [
        r"(?:^|[=?&\s(\"'>])(?:https?|ftps?|ftp|php|data|gopher|dict|ldap|smb|sftp|tftp|file|zlib|expect)\s*:\s*[\\/]{2}(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[0-9a-f:]+\])",
        r"(?:^|[=?&\s(\"'>])(?:url:)?(?:file:/|jar:|local_file:|netdoc:|gopher:|dict:|tftp:)", r"=\s*(?:https?|ftps?|file)(?::[^&\s]*)?\?+\s*(?:&|$)",
        r"\b(?:_conf\[path\]|mosconfig_absolute_path|_server\[document_root\]|gallery_basedir|path_to_root|phpbb_root_path|include_path|appserv_root|rootpath|config\[\w+\]|dir\[\w+\])\s*=\s*(?:https?|ftps?)://",
        r"\b(?:include|require|file|page|path|template|doc|document|folder|root|pg|style|pdf|php_path|inc|mod|conf|dir|show|site|view|content|url|uri|redirect|load|read|lang|language|layout|module|src|source|data|target|cat|action|board|date|detail|download|prefix|type|val|validate|nav|next|open|return|to|out|feed|host|port|dest|continue|window|reference|site|html|callback|return_to|checkout_url|image_url|go|proxy)\s*=\s*(?:https?|ftps?|ftp|gopher|dict|smb|ldap|sftp|tftp)\s*:\s*[\\/]{2}",
        r"(?:https?|ftps?|ftp)\s*:\s*[\\/]{2}[^\s?&]+\?\s*$", r"(?:https?|ftps?|ftp)\s*:\s*[\\/]{2}[^\s]*?\?\?",
        r"=\s*(?:https?|ftp)s?\s*:\s*[\\/]{2}[^\s&]*\.(?:txt|php|gif|jpg|png|sh|pl|py|cgi)\?",
    ],
    "rce": [
        r"(?:^|[;|&`\n\r(){}$]|\|\||&&|\$\(|\bdo\b|\bthen\b|\belse\b)\s*(?:[\w./\\]*[\\/])?(?:ls|dir|cat|tac|more|less|head|tail|nl|od|xxd|strings|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|ps|w|who|last|pwd|env|printenv|set|echo|printf|wget|curl|fetch|lwp-\w+|nc|ncat|netcat|socat|telnet|ssh|scp|ftp|tftp|bash|sh|zsh|ksh|csh|tcsh|dash|ash|busybox|python\d?(?:\.\d+)?|perl|ruby|php\d?|lua|node|nodejs|java|gcc|cc|make|chmod|chown|chgrp|rm|mv|cp|mkdir|touch|ln|kill|killall|pkill|nohup|crontab|sudo|su|passwd|useradd|usermod|mount|umount|find|grep|egrep|fgrep|awk|gawk|sed|xargs|tee|base64|openssl|nmap|ping|nslookup|dig|host|traceroute|tracert|sleep|timeout|eval|exec|source|export|alias|unset|systemctl|service|iptables|net|netsh|reg|sc|tasklist|taskkill|wmic|powershell|pwsh|cmd|certutil|bitsadmin|mshta|rundll32|regsvr32|cscript|wscript|schtasks|at|type|copy|del|erase|ren|rd|vssadmin|icacls|attrib|whois|sftp|rsync|git|svn|apt|apt-get|yum|dnf|pip|npm|docker|kubectl|tar|zip|unzip|gzip|gunzip|bzip2|7z|dd|shred|mkfifo|mknod|xterm|script|expect|tclsh|wish|irb|jrunscript|jjs|sqlplus|mysql|psql|sqlite3|mongo|redis-cli|tcpdump|tshark|arp|route|ip|ss|lsof|fuser|strace|ltrace|gdb|objdump|readelf|file|stat|du|df|free|top|uptime|dmesg|journalctl|sysctl|modprobe|insmod|lsmod|chattr|lsattr|setfacl|getfacl|id|column|fold|comm|base32|flock|perf|cpulimit|ansible[\w-]*|chef-\w+|visudo|cscli|rmt(?:-\w+)?|c89|c99|gcc[\d.]*|zstd\w*|bsdtar|unxz|bcdboot|bcdedit|regedit|wevtutil|wbadmin|diskpart|fsutil|ntdsutil|dsquery|nltest|systeminfo|msiexec|takeown|cipher|vim?|nano|emacs)(?:\.exe)?(?:$|[\s;|&<>`'\"),]|\$\{?ifs)",
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
        # a value that is itself a command line: a distinctive program at the start of a form value, with arguments,
        # or alone where the program is not also an English word
        r"(?:^|=)\s*['\"]?(?:(?:time|strace|nohup|sudo|timeout \d+)\s+)?(?:ansible[\w-]*|chef-\w+|cscli|visudo|busybox|zstd\w*|gunzip|bunzip2|unxz|bsdtar|python\d(?:\.\d+)?|perl|ruby|php\d?|wget|curl|ncat|netcat|socat|bash|zsh|ksh|powershell|pwsh|whoami|ifconfig|ipconfig|uname|netstat|nslookup|telnet|tftp|chmod|chown|crontab|useradd|iptables|systemctl|c89|c99|gcc[\d.]*|ls|cat|rm|nc|sh)['\"]?\s+(?:-{1,2}\w|/|~|\.{1,2}/|\$|['\"]?\w+://)",
        r"(?:^|=)\s*['\"]?(?:whoami|ifconfig|ipconfig|uname|netstat|visudo|cscli|ansible[\w-]*|chef-\w+|busybox)['\"]?\s*(?:$|&|;)",
        r"\b(?:ba|z|k|da|tc)?sh(?:\$\w+)?\s*(?:\s|,)\s*-c\b", r"\bgcc[\d.]*\s*<<<", r"(?:^|[\s=;|&'\"(])/?(?:usr/(?:local/)?)?s?bin/[a-z][\w.+-]*",
        r"~[+-](?:\d+|$|&|\s)", r"!-\d", r"\$\[[^\]\n]{0,40}\]", r"\$\{[^}\n]{0,60}[#%/^,~][^}\n]{0,60}\}",
        r"\balias\s+(?:[+-][a-z]+\s+)?(?:[\w.!%,@'\"-]+\s+)?[\w.!%,@'\"-]+=\S", r"(?:^|[=:'\"])\s*\(\s*\)\s*\{",
        r"\{\w*[a-z_]\w*,[\w,-]*\}|\{,[\w,-]*[a-z][\w,-]*\}", r"\bpowershell(?:\.exe)?\s+[a-z]:\\",
        # Windows batch: loops, conditions and the environment variables only cmd.exe expands
        r"\bfor\s+(?:/[dflr]\s+)*(?:\"[^\"]*\"\s+)?%%?~?\w*\s+in\s*\(", r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:\"[^\"]*\"|\([^)]*\)|\{[^}]*\}|\[[^\]]*\])\s*(?:==|\s(?:equ|neq|lss|leq|gtr|geq)\s)", r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\b",
        r"\bif\s*/i\b|\bif\s+(?:not\s+)?\S+\s*(?:==\s*[\w\"'%\[!({]|\s(?:equ|neq|lss|leq|gtr|geq)\s)",
        r"%(?:errorlevel|systemroot|windir|comspec|temp|userprofile|appdata|localappdata|programfiles|programdata|homedrive|homepath|computername|username|systemdrive|public|allusersprofile|cd|random)%",
        r"\b(?:invoke-(?:webrequest|expression|command|restmethod|item|wmimethod|shellcode|mimikatz)|iex|iwr|irm|iwmi|start-process|start-bitstransfer|get-wmiobject|get-ciminstance|set-mppreference|add-mppreference)\s+[-\w(\"'$]",
        r"\bnew-object\s+(?:-\w+\s+)?(?:system\.)?net\.webclient\b|\.downloadstring\s*\(|\.downloadfile\s*\(",
        r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}|\b\w+\s*\(\s*\)\s*\{[^}]{0,60}\|[^}]{0,60}&[^}]{0,20}\}\s*;?",
        r"\$\(\(|\balias\s+(?:-p\s+)?[\"'\w-]+\s*=",
        r"(?:^|[\s=;|&'\"])/[\w.\[\]?*!/-]*\[[^\]\s]{1,12}\][\w.\[\]?*!/-]+",
        # mail protocol commands smuggled through a form field after a line break (SMTP, IMAP, POP3 injection)
        r"<!--\s*#\s*exec\b",
        r"\bfilename\s*=\s*[\"']?(?:[^\"'\n;]*[/\\])?(?:wp-config[\w .-]*|settings\s*\.\s*php|\.htaccess|\.htpasswd|config\.ya?ml|web\.config|\.user\.ini|php\.ini|authorized_keys)\s*[\"';\n]",
    ],
    "php": [
        r"<\?(?:php|=)?(?:\s|$)", r"<\?=", r"[;)]\s*\?>", r"<\?\s*(?:echo|print|system|exec|passthru|eval|include|require|phpinfo)\b", r"\bphp://(?:input|filter|memory|temp|stdin|fd)", r"\[[/\\]?php\]|\{/?php\}", r"<\?xml\s*[:(;]",
        # php.ini directives an attacker sets through a vulnerable ini_set() or .user.ini upload
        r"\b(?:allow_url_fopen|allow_url_include|auto_prepend_file|auto_append_file|disable_functions|disable_classes|open_basedir|enable_dl|extension_dir|upload_tmp_dir|session\.save_path|sendmail_path|unserialize_max_depth|memory_limit|max_execution_time|(?:opcache|mbstring|pcre|zend|phar|xdebug)\.\w+)\s*=\s*\S",
        # function names that only PHP code contains, wherever they appear
        r"(?:base64_decode|file_get_contents|file_put_contents|fsockopen|pfsockopen|gzinflate|gzuncompress|zlib_decode|bzdecompress|shell_exec|proc_open|call_user_func|create_function|str_rot13|move_uploaded_file|get_defined_functions|posix_getpwuid|escapeshellcmd|stream_socket_client)\b",
        r"\b(?:substr|printf|sprintf|filegroup|fileowner|fileperms|file_exists|is_writable|readdir|scandir|exec|system|passthru|popen|assert|eval)\s*\(",
        r"\)\s*(?:\[\s*\d+\s*\]\s*)*\(\s*['\"][^'\"]{1,40}['\"]\s*\)\s*;", r"\$\w*\s*\[[^\n]{1,60}?\]\s*\(",
        r"\b(?:phar|compress\.zlib|compress\.bzip2|ssh2\.\w+|zip|glob|expect|rar|ogg)://",
        r"\bfilename\s*=\s*[\"']?[^\"'\n;]*(?:\.\s*(?:php\d*|phtml|phar|phps|phpt|pht)[.\s]*|[/\\]sess_[\w-]{16,}|^sess_[\w-]{16,})[\"';\n]",
        r"\$\s*\w*(?:\s*(?:\[[^\]\n]{1,40}\]|\{[^}\n]{1,40}\}))+\s*\(", r"\$\s+\{\s*[^}\s]", r"\(\s*['\"]\s*\w+\s*['\"]\s*\)\s*\(",
        r"['\"]\s*(?:system|exec|passthru|shell_exec|assert|eval|popen|proc_open|pcntl_exec)\s*['\"]\s*\(", r"\breturn\s*['\"]\w+['\"]\s*\(",
        r"[(\[]\s*(?:system|exec|passthru|shell_exec|assert|eval|popen|proc_open)\s*[)\]]", r"\bdefine\s*\(\s*['\"]\w+['\"]\s*,",
        r"(?:call_user_func|get_defined_functions|get_defined_constants|assert_options|gzdecode|gzcompress|intval|strip_tags|unpack|crypt|chroot|gethostbyname|is_array|str_replace|strtolower|array_walk|iterator_apply|create_function|escapeshellcmd|escapeshellarg|proc_nice|proc_terminate|posix_kill|lchown|lchgrp|link|tempnam|tmpfile|parse_ini_file|parse_ini_string|get_cfg_var|phpversion|php_uname|sys_get_temp_dir|getmypid|getmyuid|memory_get_usage)\s*\(",
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

# Inside base64 a name alone is enough: nobody base64-encodes "ProcessBuilder", a deserialisation gadget's
# class or "<?php" into a form field by accident.
_ENCODED_WORDS: dict[str, tuple[str, ...]] = {
    "java": ("Runtime", "ProcessBuilder", "CloneTransformer", "ForClosure", "InstantiateFactory", "InstantiateTransformer",
             "InvokerTransformer", "PrototypeCloneFactory", "PrototypeSerializationFactory", "WhileClosure",
             "getProperty", "FileWriter", "XMLDecoder", "ClassLoader", "TemplatesImpl", "getRuntime", "jndi:ldap", "jndi:rmi",
             "jndi:dns", "${jndi:"),
    "php": ("<?php", "eval(", "assert(", "system(", "passthru(", "shell_exec(", "base64_decode(", "gzinflate(", "str_rot13(",
            "$_GET[", "$_POST[", "$_REQUEST[", "$_COOKIE[", "$_SERVER["),
    "rce": ("/bin/sh", "/bin/bash", "cmd.exe", "cmd /c", "powershell", "/dev/tcp/", "wget http", "curl http", "nc -e"),
}


def _base64_forms(word: bytes) -> set[str]:
    """The base64 text that always encodes `word`, whatever bytes surround it: one form for each of the
    three alignments, without the leading and trailing characters that also depend on the neighbours."""
    out = set()
    for shift, cut in ((0, 0), (1, 2), (2, 3)):
        n = shift + len(word)
        enc = base64.b64encode(b"\0" * shift + word).decode().rstrip("=")
        if n % 3:
            enc = enc[:-1]
        if len(enc) - cut >= 6:
            out.add(enc[cut:])
    return out


def _encoded_pattern(words: tuple[str, ...]) -> re2._Regexp:
    opts = re2.Options()
    opts.log_errors = False  # base64 is case-sensitive: this pattern is not
    variants = {v for w in words for v in (w, w.lower())}
    forms = sorted({f for v in variants for f in _base64_forms(v.encode())}, key=len, reverse=True)
    return re2.compile("|".join(re.escape(f) for f in forms), opts)


ENCODED_PATTERNS = {c: _encoded_pattern(words) for c, words in _ENCODED_WORDS.items()}


def encoded_word(cls: str, found: str) -> str:
    """Which of the class's words a base64 match spells, for the analyst."""
    for w in _ENCODED_WORDS[cls]:
        for v in (w, w.lower()):
            if found in _base64_forms(v.encode()):
                return v
    return found

# Mail protocol commands smuggled through a form field after a line break (SMTP, IMAP and POP3 injection):
# matched on the value with its line breaks kept, which the other views fold into spaces.
MAIL_INJECTION = re2.compile(
    r"[\r\n]\s*(?:mail\s+from|rcpt\s+to)\s*:|[\r\n]\s*\w{1,10}\s+(?:append|status|copy|store|search|fetch|select|examine|uid|"
    r"expunge|authenticate)\s+\S|[\r\n]\s*(?:retr|top|apop|dele|uidl)\s+\w", _OPTS)

_UESC = re.compile(r"(?:\\u|%u)([0-9a-fA-F]{4})")
_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")
_WS = re.compile(r"\s+")
_SPLIT_ENTITY = re.compile(r"&(?:tab|newline|nbsp|zwnj|zwj|shy);", re.I)  # HTML5 names used to split keywords
_JS_COMMENT = re.compile(r"/\*[\s\S]*?\*/")
_LINE_COMMENT = re.compile(r"(?://|#)[^\n\r]*[\r\n]")
_SEVEN_BIT = {c: c - 0x80 for c in range(0xA0, 0x100)}  # IE's US-ASCII quirk: ¼ reads as <
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
        s = _SPLIT_ENTITY.sub("", html.unescape(html.unescape(s)))
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
    if ("//" in d or "#" in d) and ("\n" in d or "\r" in d):
        out.append(_WS.sub(" ", _LINE_COMMENT.sub(" ", d)))
    if "/*" in flat:
        out.append(_JS_COMMENT.sub("", flat))
    if "\xbc" in flat and "\xbe" in flat and not any("\x80" <= ch <= "\x9f" for ch in flat):
        out.append(flat.translate(_SEVEN_BIT))
    return tuple(out)


# A script sent as an upload: the file name a client gives in an X-Filename-style header.
_UPLOAD_HEADER = re.compile(r"^h:x[-_.]?file[-_.]?name$")
_UPLOADS = {"php": re2.compile(r"(?:\.\s*(?:php\d*|phtml|phar|phps|phpt|pht)|\.php\d*)[.\s]*$|(?:^|[/\\])sess_[\w-]{16,}$", _OPTS),
            "java": re2.compile(r"\.\s*(?:jsp|jspx|jspf|jsw|jsv)[.\s]*$", _OPTS),
            "rce": re2.compile(r"(?:^|[/\\])(?:wp-config[\w .-]*|settings\s*\.\s*php|\.htaccess|\.htpasswd|\.boto|\.env|config\.ya?ml|"
                               r"web\.config|\.user\.ini|php\.ini|\.bashrc|\.profile|authorized_keys|id_rsa|mtrr|acpi)\s*$", _OPTS)}


def classify(parts: dict[str, str], classes: tuple[str, ...] = CLASSES) -> list[WebFinding]:
    """The attack classes found in the named parts of one request."""
    found: dict[str, WebFinding] = {}
    for part, text in parts.items():
        if not text:
            continue
        if _UPLOAD_HEADER.match(part):
            for c, rx in _UPLOADS.items():
                if c in classes and c not in found and rx.search(text):
                    found[c] = WebFinding(c, part, f"upload of {text[:200]}")
        for v in views(text):
            for c in classes:
                if c in found:
                    continue
                m = PATTERNS[c].search(v)
                if m is not None:
                    found[c] = WebFinding(c, part, v[max(0, m.start() - 20): m.end() + 20])
        if "rce" in classes and "rce" not in found and ("\n" in text or "\r" in text or "%0" in text):
            d = decode(text)
            m = MAIL_INJECTION.search(d)
            if m is not None:
                found["rce"] = WebFinding("rce", part, d[max(0, m.start() - 20): m.end() + 20])
        for c, rx in ENCODED_PATTERNS.items():
            if c in classes and c not in found:
                m = rx.search(text)
                if m is not None:
                    found[c] = WebFinding(c, part, f"base64 of {encoded_word(c, m.group())!r}: {m.group()}")
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
