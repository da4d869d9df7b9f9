"""The folder tree is the pipeline: imports may only point down the layers (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "garrison"

# package -> garrison packages it must never import
FORBIDDEN = {
    "model": {"config", "sources", "parse", "enrich", "detect", "triage", "respond", "store", "pipeline", "cli", "web",
              "simulate"},
    "parse": {"sources", "enrich", "detect", "respond", "store", "pipeline", "cli", "web"},
    "enrich": {"sources", "parse", "detect", "respond", "store", "pipeline", "cli", "web"},
    "detect": {"respond", "pipeline", "cli", "web"},
    "respond": {"detect", "pipeline", "cli"},
    "store": {"sources", "parse", "enrich", "detect", "respond", "pipeline", "cli", "web"},
    "sources": {"detect", "respond", "pipeline", "cli", "web"},
    "pipeline": {"cli", "web"},
}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("garrison."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("garrison.")}
    return out


def test_layers():
    bad = []
    for pkg, forbidden in FORBIDDEN.items():
        for f in (ROOT / pkg).rglob("*.py"):
            for imp in _imports(f) & forbidden:
                bad.append(f"{f.relative_to(ROOT.parent)} imports garrison.{imp}")
    assert not bad, "\n".join(bad)


def test_modules_stay_small():
    """Style: no god modules (hard cap near 600 lines)."""
    big = [f"{f.relative_to(ROOT.parent)}: {n}" for f in ROOT.rglob("*.py")
           if (n := len(f.read_text().splitlines())) > 600]
    assert not big, big
