"""Authentication as FastAPI dependencies: they run before the body is read or validated, so a caller
without credentials gets 401 (wrong ones: 403) and never learns what the body should have been."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from garrison.errors import AuthError, Unavailable
from garrison.sources.tokens import verify_token


def token_auth(engine: Engine, scope: str = "api", export_token: str | None = None
               ) -> Callable[[Request], Awaitable[str]]:
    """A dependency returning the token's name for ``Authorization: Bearer TOKEN`` holding ``scope``."""

    async def dep(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if token and export_token and token == export_token and request.url.path.startswith("/api/v1/blocklist"):
            return "export"
        try:
            name, _ = await run_in_threadpool(verify_token, engine, token, scope)
        except Unavailable as e:
            raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after)}) from e
        except AuthError as e:
            wrong_scope = "may not be used" in str(e)
            raise HTTPException(403 if wrong_scope else 401, str(e),
                                headers=None if wrong_scope else {"WWW-Authenticate": "Bearer"}) from e
        return name

    return dep


# A row id in a URL: an integer the database can hold (a larger one is a 422, not an overflow inside SQL).
RowId = Annotated[int, Path(ge=0, le=2**63 - 1)]
