"""The module ladder: imports inside generator/ flow one way, from later stages to earlier."""

from __future__ import annotations

import ast
from pathlib import Path

import generator

PACKAGE = Path(generator.__file__).parent

# Earlier stages first; a module may import only modules listed before it.
LADDER = [
    "diagnostics",
    "workers",
    "cache",
    "listing",
    "restore",
    "dates",
    "schema",
    "yamlnodes",
    "model",
    "reading",
    "unchanged",
    "markup",
    "parse",
    "urls",
    "links",
    "chronology",
    "maps",
    "search",
    "jsonld",
    "views",
    "data",
    "feeds",
    "render",
    "deps",
    "plan",
    "write",
    "rebuild",
    "pipeline",
    "jsonschema",
    "skeleton",
    "guide",
    "serve",
    "cli",
]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("generator."):
            found.add((node.module or "").split(".")[1])
    return found


def test_every_module_is_on_the_ladder() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert modules == set(LADDER)


def test_imports_flow_one_way() -> None:
    wrong = []
    for index, module in enumerate(LADDER):
        allowed = set(LADDER[:index])
        for imported in _imports(module):
            if imported not in allowed:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_only_cli_prints() -> None:
    printing = [
        module
        for module in LADDER
        if module != "cli"
        and any(
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text("utf-8")))
        )
    ]
    assert printing == []
