"""The cluster: on the hub, its members with their last exchange, what each shared and the cluster incidents; on
any member, the incidents the cluster raised here and the bans adopted on a neighbour's word."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from garrison.store import state as S
from garrison.store import state_cluster as C
from garrison.web.console.base import Console, need, page


def _load(con: Console) -> dict[str, Any]:
    from garrison.cluster.hub import INCIDENTS, members

    out: dict[str, Any] = {"role": con.config.cluster.role, "hub_url": con.config.cluster.hub_url}
    with con.engine.connect() as c:
        if out["role"] == "hub":
            out["members"] = members(con.engine)
            out["shared"] = [{"member": r[0], "type": r[1], "n": r[2]} for r in c.execute(
                select(C.cluster_objects.c.member, C.cluster_objects.c.type, func.count()).where(C.cluster_objects.c.collection != INCIDENTS)
                .group_by(C.cluster_objects.c.member, C.cluster_objects.c.type).order_by(C.cluster_objects.c.member))]
            out["cluster_incidents"] = [orjson.loads(r[0]) | {"added": r[1]} for r in c.execute(
                select(C.cluster_objects.c.body, C.cluster_objects.c.added_at).where(C.cluster_objects.c.collection == INCIDENTS)
                .order_by(C.cluster_objects.c.id.desc()).limit(100))]
        out["here"] = [dict(r) for r in c.execute(select(S.incident_comments.c.incident_id, S.incident_comments.c.at,
                                                         S.incident_comments.c.text).where(S.incident_comments.c.author == "cluster")
                                                  .order_by(S.incident_comments.c.at.desc()).limit(100)).mappings()]
        out["adopted"] = [dict(r) for r in c.execute(select(S.decisions.c.value, S.decisions.c.reason, S.decisions.c.created_at,
                                                            S.decisions.c.until).where(S.decisions.c.origin == "feed")
                                                     .order_by(S.decisions.c.created_at.desc()).limit(100)).mappings()]
    return out


def routes(r: APIRouter, con: Console) -> None:
    @r.get("/console/cluster")
    async def cluster(request: Request):
        user = await need(request, con, "analyst")
        return page(request, "cluster.html", user, **await run_in_threadpool(_load, con))
