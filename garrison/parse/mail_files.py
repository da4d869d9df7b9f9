"""Attachments by content, not by name: executables, archives (encrypted or not), disk images, shortcuts,
OneNote, Office files with macros (oletools), HTML and SVG that run script, and QR codes in images (zxing-cpp).

Each check is bounded: archives list at most ``MAX_MEMBERS`` names and are never extracted; macros are looked
for in files up to ``MAX_OLE``; images are decoded only up to ``MAX_PIXELS``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
import zipfile
from typing import Any

log = logging.getLogger("garrison.parse.mail")
logging.getLogger("olevba").setLevel(logging.ERROR)  # it logs every file it opens at INFO

MAX_MEMBERS = 200
MAX_OLE = 20 * 1024 * 1024
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_PIXELS = 8_000_000
_ONENOTE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
_LNK = b"L\x00\x00\x00\x01\x14\x02\x00"
_RISKY_NAMES = (".exe", ".scr", ".com", ".pif", ".bat", ".cmd", ".js", ".jse", ".vbs", ".vbe", ".wsf", ".hta", ".ps1",
                ".lnk", ".iso", ".img", ".vhd", ".vhdx", ".one", ".msi", ".dll", ".jar", ".cpl", ".xll", ".html", ".htm",
                ".svg", ".chm")


def kind_of(data: bytes, name: str = "") -> str:
    """What a file is, from its first bytes (the name only breaks ties between text kinds)."""
    head = data[:4096]
    low = head.lower()
    if head.startswith(b"MZ"):
        return "executable"
    if head.startswith(b"\x7fELF") or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf"):
        return "executable"
    if head.startswith(_LNK):
        return "shortcut"
    if head.startswith(_ONENOTE):
        return "onenote"
    if len(data) > 0x8005 and data[0x8001:0x8006] == b"CD001":
        return "disk_image"
    if head.startswith(b"conectix") or head.startswith(b"vhdxfile"):
        return "disk_image"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"Rar!") or head.startswith(b"7z\xbc\xaf\x27\x1c") or head.startswith(b"\x1f\x8b"):
        return "archive"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")) or head[8:12] == b"WEBP":
        return "image"
    if b"<svg" in low:
        return "svg"
    if b"<html" in low or b"<!doctype html" in low or b"<script" in low or b"<body" in low:
        return "html"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if name.lower().endswith((".img", ".iso")):
        return "disk_image"
    return "other"


def _zip_facts(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"members": [], "encrypted": False, "macros": False}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for i, info in enumerate(z.infolist()):
                if i >= MAX_MEMBERS:
                    out["truncated"] = True
                    break
                out["members"].append(info.filename[:200])
                if info.flag_bits & 0x1:
                    out["encrypted"] = True
                if info.filename.lower().endswith("vbaproject.bin"):
                    out["macros"] = True
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
        out["error"] = f"unreadable archive: {e}"[:200]
    out["risky_members"] = [m for m in out["members"] if m.lower().endswith(_RISKY_NAMES)]
    return out


def _macros(data: bytes, name: str) -> dict[str, Any]:
    """VBA and XLM macros and their suspicious keywords, through oletools' olevba."""
    if len(data) > MAX_OLE:
        return {"error": "too large to scan for macros"}
    try:
        from oletools.olevba import VBA_Parser

        vp = VBA_Parser(name or "attachment", data=data)
        try:
            if not vp.detect_vba_macros():
                return {"macros": False}
            flags = sorted({kw for typ, kw, _ in vp.analyze_macros() if typ in ("AutoExec", "Suspicious")})[:20]
            return {"macros": True, "macro_flags": flags}
        finally:
            vp.close()
    except Exception as e:  # olevba raises many private types on broken files; a broken file is a finding, not a crash
        return {"error": f"macro scan failed: {type(e).__name__}"}


def qr_codes(data: bytes) -> list[str]:
    """Texts of the QR codes in an image (zxing-cpp), bounded in bytes and pixels."""
    if len(data) > MAX_IMAGE_BYTES or len(data) < 200:
        return []
    try:
        import zxingcpp
        from PIL import Image

        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as im:
            warnings.simplefilter("ignore")  # Pillow warns about odd palettes; the image is still read
            if im.width * im.height > MAX_PIXELS:
                return []
            im.load()
            return [r.text[:2048] for r in zxingcpp.read_barcodes(im.convert("L"))][:5]
    except Exception as e:  # an unreadable image is not a reason to stop reading the message
        log.debug("image not decoded: %s", e)
        return []


def inspect(data: bytes, name: str, content_type: str, scan_images: bool = True) -> dict[str, Any]:
    """One attachment's facts: its hash, its kind by content, and the findings for that kind."""
    kind = kind_of(data, name)
    facts: dict[str, Any] = {"file.name": name[:255], "file.mime_type": content_type, "file.size": len(data),
                             "file.hash.sha256": hashlib.sha256(data).hexdigest(), "kind": kind}
    if kind == "zip":
        z = _zip_facts(data)
        facts.update({"encrypted": z["encrypted"], "risky_members": z["risky_members"][:20]})
        if z["macros"]:
            facts.update(_macros(data, name))
        if "error" in z:
            facts["error"] = z["error"]
    elif kind == "ole":
        facts.update(_macros(data, name))
    elif kind == "image" and scan_images:
        codes = qr_codes(data)
        if codes:
            facts["qr"] = codes
    ext_kind = kind_of(b"", name) if name else "other"
    if name and "." in name and kind == "other" and name.lower().endswith(_RISKY_NAMES):
        facts["risky_name"] = True
    if ext_kind == "disk_image":
        facts["kind"] = "disk_image"
    return facts
