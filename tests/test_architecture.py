"""The folder tree is the pipeline: the contracts of ARCHITECTURE.md, checked.

Layers and stage independence are import-linter contracts in pyproject.toml (``lint-imports``); this file
runs them and adds what import-linter can't say: no ``_private`` module used from another package, no
import cycle (function-level imports included), and no file over 400 lines.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "garrison"
MAX_LINES = 400


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every garrison module ``path`` imports, at any level of the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("garrison"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("garrison")}
    return out


# Alembic's revisions are generated, loaded by file path and never imported: not modules of the tree.
SOURCES = [f for f in ROOT.rglob("*.py") if "migrations" not in f.relative_to(ROOT).parts]
MODULES = {_module(f): f for f in SOURCES}


def test_import_linter_contracts():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    r = subprocess.run([exe], cwd=ROOT.parent, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]


def test_no_private_module_is_used_from_another_package():
    bad = []
    for mod, f in MODULES.items():
        pkg = mod.rsplit(".", 1)[0] if not f.name == "__init__.py" else mod
        for imp in _imports(f):
            parts = imp.split(".")
            for i, p in enumerate(parts):
                if p.startswith("_") and not p.startswith("__") and ".".join(parts[:i + 1]) in MODULES:
                    owner = ".".join(parts[:i])
                    if not (pkg == owner or pkg.startswith(owner + ".")):
                        bad.append(f"{mod} imports {'.'.join(parts[:i + 1])}")
                    break
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = {m: {i for i in _imports(f) if i in MODULES and i != m} for m, f in MODULES.items()}
    # a package's __init__ re-exporting its own modules is not a cycle of behaviour
    for m in graph:
        graph[m] = {i for i in graph[m] if not (MODULES[i].name == "__init__.py" and m.startswith(i + "."))}
    seen: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if seen.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in seen:
                visit(n, stack)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles[:10])


def test_modules_stay_small():
    big = [f"{f.relative_to(ROOT.parent)}: {n}" for f in SOURCES
           if (n := len(f.read_text().splitlines())) > MAX_LINES]
    assert not big, big
