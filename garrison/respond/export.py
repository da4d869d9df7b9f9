"""Blocklists for devices that pull them: plain text (firewall External Dynamic Lists), nftables, nginx."""

from __future__ import annotations

import ipaddress

from garrison.model.decision import Decision

FORMATS = ("plain", "nftables", "nginx")


def _targets(decisions: list[Decision]) -> tuple[list[str], list[str]]:
    v4, v6 = set(), set()
    for d in decisions:
        if d.type != "ban" or d.scope not in ("ip", "range"):
            continue
        net = ipaddress.ip_network(d.value, strict=False)
        (v4 if net.version == 4 else v6).add(str(net) if net.num_addresses > 1 else str(net.network_address))
    return sorted(v4), sorted(v6)


def render(decisions: list[Decision], fmt: str, set_name: str = "garrison_blocklist") -> str:
    v4, v6 = _targets(decisions)
    if fmt == "plain":
        return "".join(x + "\n" for x in v4 + v6)
    if fmt == "nginx":
        return "# Garrison blocklist: include from an http, server or location block\n" + \
            "".join(f"deny {x};\n" for x in v4 + v6)
    if fmt == "nftables":
        lines = ["#!/usr/sbin/nft -f", "# Garrison blocklist: load with nft -f; reloading replaces the sets whole",
                 "table inet garrison", "flush table inet garrison",
                 "table inet garrison {",
                 f"  set {set_name}_v4 {{ type ipv4_addr; flags interval; auto-merge; "
                 + (f"elements = {{ {', '.join(v4)} }} " if v4 else "") + "}",
                 f"  set {set_name}_v6 {{ type ipv6_addr; flags interval; auto-merge; "
                 + (f"elements = {{ {', '.join(v6)} }} " if v6 else "") + "}",
                 "  chain input { type filter hook input priority -10; policy accept;",
                 f"    ip saddr @{set_name}_v4 drop", f"    ip6 saddr @{set_name}_v6 drop", "  }", "}"]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown blocklist format {fmt!r}; use one of {', '.join(FORMATS)}")
