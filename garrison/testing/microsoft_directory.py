"""Graph's mailbox and directory resources in the stand-in: messages searched by Internet message id and deleted
(a purge), and groups' members with their departments (a simulation's targets)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


def directory_routes(app: FastAPI, s: Any, auth: Callable[..., Response | None], act: Callable[..., Response | None]) -> None:
    _FILTER = re.compile(r"^\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*$")

    @app.get("/v1.0/users/{user}/messages")
    def list_messages(user: str, request: Request) -> Response:
        """Graph's message search by Internet message id, the one filter a purge needs (others refused as Graph does)."""
        if (bad := auth(request, s.base)) is not None:
            return bad
        m = _FILTER.match(flt) if (flt := request.query_params.get("$filter")) else None
        if flt and m is None:
            return JSONResponse({"error": {"code": "BadRequest", "message": f"Invalid filter clause: {flt[:80]}"}}, 400)
        wanted = m.group(1).replace("''", "'") if m else None  # OData doubles a quote inside a string
        box = list(s.mailboxes.get(user.lower(), []))
        return JSONResponse({"value": [msg for msg in box if wanted is None or msg["internetMessageId"] == wanted]})

    @app.delete("/v1.0/users/{user}/messages/{message}")
    def delete_message(user: str, message: str, request: Request) -> Response:
        if (bad := act("deleteMessage", request, user=user, message=message)) is not None:
            return bad
        with s.lock:
            box = s.mailboxes.get(user.lower(), [])
            s.mailboxes[user.lower()] = kept = [msg for msg in box if msg["id"] != message]
        if len(kept) == len(box):
            return JSONResponse({"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found"}}, 404)
        return Response(status_code=204)

    @app.get("/v1.0/groups/{group}/members")
    def members(group: str, request: Request) -> Response:
        if (bad := auth(request, s.base)) is not None:
            return bad
        return JSONResponse({"value": list(s.groups.get(group, []))})
