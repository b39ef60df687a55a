"""The floors hold (docs/architecture.md): no import circle, few and explained function-local
imports, no kernel imports from portal, no private names imported across modules.
import-linter (`make imports`) checks the contracts between floors; these check the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
OURS = ("core", "outbox", "services", "consent", "portal")

def _sources():
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _is_ours(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in OURS
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in OURS for alias in node.names)
    return False


def _circles() -> list[set[str]]:
    graph = grimp.build_graph(*OURS, include_external_packages=False)
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if ".migrations" in imported:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_circle_remains() -> None:
    assert _circles() == []


def test_fewer_than_ten_function_local_imports_of_our_modules_each_with_its_reason() -> None:
    local = []
    for path, tree in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if _is_ours(node):
                        text = " ".join(lines[node.lineno - 1 : node.end_lineno])
                        local.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    assert len(local) < 10, local
    assert [where for where, text in local if "# lazy: " not in text] == []


def test_services_and_consent_import_nothing_from_portal() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _sources()
        if path.relative_to(ROOT).parts[0] in ("services", "consent")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            name == "portal" or name.startswith("portal.")
            for name in (
                [node.module or ""] if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        )
    ]
    assert offenders == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _from_module(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from … import` reads (relative ones resolved)."""
    if node.level == 0:
        return node.module or ""
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_module(dotted: str) -> bool:
    where = ROOT.joinpath(*dotted.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def test_no_private_name_is_imported_across_modules() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and _from_module(path, node).split(".")[0] in OURS
        for alias in node.names
        if _private(alias.name)
    ]
    assert offenders == []


def test_no_private_name_is_reached_through_another_module() -> None:
    """`from consent import ledger; ledger._helper(...)` is the same leak as importing it."""
    offenders = []
    for path, tree in _sources():
        bound: dict[str, str] = {}  # local name → the module of ours it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in OURS:
                        local = alias.asname or alias.name.split(".")[0]
                        bound[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom):
                module = _from_module(path, node)
                if module.split(".")[0] in OURS:
                    for alias in node.names:
                        if _is_module(f"{module}.{alias.name}"):
                            bound[alias.asname or alias.name] = f"{module}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            owner = _dotted(node.value)
            head, _, rest = (owner or "").partition(".")
            if head not in bound:
                continue
            module = ".".join(filter(None, [bound[head], rest]))
            if _is_module(module) and module != _module_of(path):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.attr}")
    assert offenders == []
