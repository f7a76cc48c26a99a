"""The layout's rules, read from the source with `ast`: no import inside a function, no import
cycle between portal's modules, and domain modules (services, rules, models) use no web piece:
no Flask request objects and none of the web helpers or blueprints."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"

# Where an import inside a function is allowed (module: function names). Keep it empty: a
# cycle is fixed by moving the shared piece, not by importing late.
IN_FUNCTION_IMPORTS_ALLOWED: dict[str, set[str]] = {}

# The web side: helpers for requests and the blueprints on top of them.
WEB = (
    "portal.htmx",
    "portal.forms",
    "portal.web_args",
    "portal.web_errors",
    "portal.pagination",
    "portal.downloads",
    "portal.desk",
    "portal.gate",
    "portal.security",
    "portal.analytics_views",
    "portal.api",
    "portal.auth",
    "portal.merchant",
    "portal.supplier",
)
# The application itself: it wires everything together, so it may import both sides; and its
# transaction plumbing, which chooses a request's transaction mode by the request.
APP = (
    "portal",
    "portal.cli",
    "portal.checks",
    "portal.config",
    "portal.extensions",
    "portal.transactions",
)
# What a domain module may take from Flask: the app's configuration, never the request.
DOMAIN_FLASK_NAMES = {"current_app", "has_app_context", "Flask"}
WEB_LIBRARIES = ("flask_login", "flask_wtf", "flask_htmx", "wtforms", "werkzeug.wrappers")
DOMAIN_LIBRARY_NAMES = {("flask_login", "UserMixin")}  # the user model's session protocol


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PORTAL.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_domain(name: str) -> bool:
    return not within(name, WEB) and name not in APP


def imported(module: str, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """Module-level imports as (absolute module, names, line); `if TYPE_CHECKING:` ignored."""
    found = []
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.append((base, [alias.name for alias in node.names], node.lineno))
    return found


def portal_targets(base: str, names: list[str]) -> set[str]:
    """The portal modules an import statement uses (`from portal.api import schemas` uses
    portal.api.schemas; the packages above a module are not counted, Python loads them first)."""
    targets = {f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES}
    if len(targets) < len(names) or not names:
        while base and base not in MODULES:
            base = base.rpartition(".")[0]
        if base:
            targets.add(base)
    return targets


def uses_web(base: str, names: list[str]) -> bool:
    """Flask's request side, a web library, or one of portal's web modules."""
    if base == "flask":
        return bool(set(names) - DOMAIN_FLASK_NAMES)
    if within(base, WEB_LIBRARIES):
        return not {(base, n) for n in names} <= DOMAIN_LIBRARY_NAMES
    return base.startswith("portal") and any(within(t, WEB) for t in portal_targets(base, names))


def test_no_import_inside_a_function():
    found = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name in IN_FUNCTION_IMPORTS_ALLOWED.get(name, set()):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append(f"{name}:{inner.lineno} in {node.name}()")
    assert found == []


def test_no_import_cycles():
    graph = {
        name: {
            target
            for base, names, _line in imported(name, tree)
            if base.startswith("portal")
            for target in portal_targets(base, names)
            if not within(name, (target,))  # itself, or a package above it
        }
        for name, tree in TREES.items()
    }
    cycles = []
    for start in graph:
        # Is there a path back to `start`? (depth-first, small graph)
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" → ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_domain_modules_use_no_web_piece():
    found = []
    for name, tree in TREES.items():
        if not is_domain(name):
            continue
        for base, names, line in imported(name, tree):
            if uses_web(base, names):
                found.append(f"{name}:{line} imports {base} {names}")
    assert found == []
