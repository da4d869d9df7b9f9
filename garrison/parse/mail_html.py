"""What a message's HTML shows and hides: visible text, links with their shown text, forms, scripts.

Built on the standard library's tolerant ``HTMLParser`` (it never raises on broken markup); every list it
fills is bounded, so a hostile body costs at most its own length.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_LINKS = 200
MAX_TEXT = 20_000
_SMUGGLING = re.compile(r"atob\s*\(|new\s+Blob\s*\(|msSaveOrOpenBlob|createObjectURL|\.download\s*=|fromCharCode\s*\(.{0,40}\bdownload",
                        re.I | re.S)
_REDIRECT = re.compile(r"(?:window|document|top)\.location(?:\.href)?\s*=|location\.replace\s*\(", re.I)
# Content pushed far out of view by style sheets: a filter reads it, the reader never sees it.
_PUSHED_AWAY = re.compile(r"(?:margin-top|margin-left|top|left|text-indent|height)\s*:\s*-?\d{4,}(?:px|vh|em)?|font-size\s*:\s*0(?:px)?\s*[;}]", re.I)
_SKIP = {"script", "style", "head", "title", "noscript", "template"}


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.size = 0
        self.links: list[dict[str, str]] = []
        self.images: list[str] = []
        self.forms: list[str] = []
        self.password_inputs = 0
        self.scripts: list[str] = []
        self.iframes = 0
        self.meta_refresh = ""
        self.hidden_text = 0
        self._skip = 0
        self._anchor: dict[str, str] | None = None
        self._script = False
        self._style = False
        self.style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag in _SKIP:
            self._skip += 1
            self._script = tag == "script"
            self._style = tag == "style"
        elif tag == "a" and a.get("href") is not None and len(self.links) < MAX_LINKS:
            self._anchor = {"url": a["href"].strip(), "text": ""}
            self.links.append(self._anchor)
        elif tag == "img" and a.get("src") and len(self.images) < MAX_LINKS:
            self.images.append(a["src"][:2048])
        elif tag == "form":
            self.forms.append(a.get("action", "")[:2048])
        elif tag == "input" and a.get("type", "").lower() == "password":
            self.password_inputs += 1
        elif tag in ("iframe", "embed", "object"):
            self.iframes += 1
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.meta_refresh = a.get("content", "")[:2048]
        style = a.get("style", "").replace(" ", "").lower()
        if "display:none" in style or "font-size:0" in style or "visibility:hidden" in style:
            self.hidden_text += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip:
            self._skip -= 1
            self._script = self._style = False
        elif tag == "a":
            self._anchor = None
        elif tag in ("p", "div", "br", "tr", "li", "td", "h1", "h2", "h3"):
            self._add(" ")

    def handle_data(self, data: str) -> None:
        if self._skip:
            if self._style and len(self.style) < MAX_TEXT:
                self.style += data[:MAX_TEXT]
            if self._script and sum(len(s) for s in self.scripts) < MAX_TEXT:
                self.scripts.append(data[:MAX_TEXT])
            return
        self._add(data)
        if self._anchor is not None and len(self._anchor["text"]) < 300:
            self._anchor["text"] += data.strip()[:300]

    def _add(self, s: str) -> None:
        if self.size < MAX_TEXT:
            self.text.append(s)
            self.size += len(s)


def pushed_away(text: str) -> int:
    """Style rules that hide content, in a style sheet or leaked into a message's text."""
    return len(_PUSHED_AWAY.findall(text[:MAX_TEXT]))


def scan_html(html: str) -> dict[str, object]:
    """Visible text and the active parts of an HTML document, bounded."""
    p = _Scan()
    try:
        p.feed(html)
        p.close()
    except (AssertionError, ValueError):  # very old Pythons' HTMLParser could raise on broken declarations
        pass
    scripts = "\n".join(p.scripts)
    return {
        "text": re.sub(r"\s+", " ", "".join(p.text))[:MAX_TEXT].strip(),
        "links": p.links, "images": p.images, "forms": p.forms, "password_inputs": p.password_inputs,
        "iframes": p.iframes, "meta_refresh": p.meta_refresh, "hidden": p.hidden_text + pushed_away(p.style),
        "script_bytes": len(scripts), "smuggling": bool(_SMUGGLING.search(scripts)),
        "script_redirect": bool(_REDIRECT.search(scripts)),
    }
