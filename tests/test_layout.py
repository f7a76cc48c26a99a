"""The layout's rules, read from the source with `ast` (README, Development): no import inside
a function, no import cycle between portal's modules, domain and model modules use no web piece
(no Flask request objects, no web library, nothing from portal.web or a blueprint), the
blueprints build and run no SQL, and the top of portal/ holds only the app's wiring."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"

# Where an import inside a function is allowed (module: function names). Keep it empty: a
# cycle is fixed by moving the shared piece, not by importing late.
IN_FUNCTION_IMPORTS_ALLOWED: dict[str, set[str]] = {}

DOMAIN = ("portal.domain", "portal.models")
# The web side: its helpers and the blueprints on top of them.
WEB = ("portal.web", "portal.api", "portal.auth", "portal.merchant", "portal.supplier")
# The top of portal/: the app factory and its wiring (they may import both sides).
TOP_MODULES = {"__init__", "checks", "cli", "config", "extensions", "jobs", "transactions"}
TOP_PACKAGES = {"domain", "web", "models", "api", "auth", "merchant", "supplier"}
# What a domain module may take from Flask: the app's configuration, never the request.
DOMAIN_FLASK_NAMES = {"current_app", "has_app_context", "Flask"}
WEB_LIBRARIES = ("flask_login", "flask_wtf", "flask_htmx", "wtforms", "werkzeug.wrappers")
DOMAIN_LIBRARY_NAMES = {("flask_login", "UserMixin")}  # the user model's session protocol
# The app's transaction plumbing chooses a request's transaction mode by the request.
DOMAIN_MAY_USE = ("portal.transactions",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PORTAL.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imported(module: str, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """Module-level imports as (absolute module, names, line)."""
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


def test_domain_and_models_use_no_web_piece():
    found = []
    for name, tree in TREES.items():
        if not within(name, DOMAIN):
            continue
        for base, names, line in imported(name, tree):
            if uses_web(base, names) and not within(base, DOMAIN_MAY_USE):
                found.append(f"{name}:{line} imports {base} {names}")
    assert found == []


def test_blueprints_share_through_web_not_each_other():
    """What two blueprints share (the statement pages' contexts, the desk) lives in portal.web:
    one role's views never import another blueprint's."""
    found = []
    for name, tree in TREES.items():
        own = next((b for b in BLUEPRINTS if within(name, (b,))), None)
        if own is None:
            continue
        for base, names, line in imported(name, tree):
            others = {
                t
                for t in portal_targets(base, names)
                if within(t, BLUEPRINTS) and not within(t, (own,))
            }
            if base.startswith("portal") and others:
                found.append(f"{name}:{line} imports {sorted(others)}")
    assert found == []


def test_top_of_portal_holds_only_the_wiring():
    modules = {p.stem for p in PORTAL.glob("*.py")}
    packages = {p.parent.name for p in PORTAL.glob("*/__init__.py")}
    assert modules <= TOP_MODULES, "a service goes in portal/domain/, a web helper in portal/web/"
    assert packages <= TOP_PACKAGES


# Where spreadsheets are written: the one writer, and the demo's imitations of the platforms'
# own exports (their encodings and tab-prefixed numbers, the files an import must read).
SPREADSHEET_WRITERS = {"portal.domain.spreadsheets", "portal.domain.demo_data"}


def writes_a_spreadsheet(tree: ast.Module) -> list[int]:
    """Lines that import an XLSX writer, make a csv writer or a workbook, or write a BOM."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names]
            if any(within(name, ("xlsxwriter",)) for name in names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(getattr(func, "value", None), "id", "")
            if (owner, name) in {("csv", "writer"), ("csv", "DictWriter")} or name == "Workbook":
                lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and node.value == "\ufeff":
            lines.append(node.lineno)  # (readers name "utf-8-sig" to decode: fine)
    return lines


def test_one_spreadsheet_writer():
    found = [
        f"{name}:{line}"
        for name, tree in TREES.items()
        if name not in SPREADSHEET_WRITERS
        for line in writes_a_spreadsheet(tree)
    ]
    assert found == [], "write CSV/XLSX through portal.domain.spreadsheets"
    assert writes_a_spreadsheet(TREES["portal.domain.spreadsheets"])


# The blueprints (and the web side's view modules) hold no SQL: a query is built and run by a
# domain function, scoped by its tenant in the query itself; a view parses, calls the domain,
# commits (the request's transaction is the view's) and answers.
BLUEPRINTS = ("portal.merchant", "portal.supplier", "portal.api", "portal.auth")
WEB_VIEW_MODULES = ("portal.web.analytics_views",)
# From sqlalchemy a blueprint may take the type of a query it hands on (`Select`, in the
# API's paging helpers) and the error classes; never a builder (select, false, joinedload …).
BLUEPRINT_SQLALCHEMY_NAMES = {("sqlalchemy", "Select")}
BLUEPRINT_SQLALCHEMY_MODULES = ("sqlalchemy.exc",)
# What runs a statement (on any object: a session, a connection, Flask-SQLAlchemy's `db`;
# `get` and `query` only on db.session, dict.get is everywhere), and the Select methods that
# build or narrow one (`str.join` and `dict.values` share names with Select's: not listed).
RUNNERS = {"execute", "scalars", "scalar", "paginate", "get_or_404", "first_or_404", "one_or_404"}
SESSION_RUNNERS = {"get", "query", "connection"}
QUERY_BUILDERS = {
    "where", "filter_by", "order_by", "options", "add_columns", "with_only_columns",
    "group_by", "having", "select_from", "join_from", "outerjoin", "limit", "offset",
    "in_", "is_", "label", "subquery", "scalar_subquery", "returning",
}  # fmt: skip


def builds_sql(module: str, tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            for base, names, line in imported(module, ast.Module(body=[node], type_ignores=[])):
                if not within(base, ("sqlalchemy",)) or within(base, BLUEPRINT_SQLALCHEMY_MODULES):
                    continue
                refused = [n for n in names if (base, n) not in BLUEPRINT_SQLALCHEMY_NAMES]
                if refused or not names:
                    found.append(f"{module}:{line} imports {base} {refused}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            if name in QUERY_BUILDERS:
                found.append(f"{module}:{node.lineno} builds a query (.{name})")
            elif name in RUNNERS or (
                name in SESSION_RUNNERS and ast.unparse(owner) == "db.session"
            ):
                found.append(f"{module}:{node.lineno} runs SQL ({ast.unparse(node.func)})")
        elif isinstance(node, ast.Attribute) and ast.unparse(node) == "db.engine":
            found.append(f"{module}:{node.lineno} runs SQL (db.engine)")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "query"
            and isinstance(node.value, ast.Name)
            and node.value.id[:1].isupper()
        ):
            found.append(f"{module}:{node.lineno} runs SQL ({node.value.id}.query)")
    return found


def test_blueprints_build_no_sql():
    found = [
        problem
        for name, tree in TREES.items()
        if within(name, BLUEPRINTS) or name in WEB_VIEW_MODULES
        for problem in builds_sql(name, tree)
    ]
    assert found == [], "move the query into portal/domain/ (a tenant-scoped function)"


def test_the_sql_rule_sees_a_query_in_a_view():
    source = (
        "from sqlalchemy import Select, select\n"
        "def view(merchant):\n"
        "    found = select(Order).where(Order.merchant_id == merchant.id)\n"
        "    return db.session.scalars(found), Order.query.get(1)\n"
    )
    found = builds_sql("portal.merchant.orders", ast.parse(source))
    assert found == [
        "portal.merchant.orders:1 imports sqlalchemy ['select']",
        "portal.merchant.orders:3 builds a query (.where)",
        "portal.merchant.orders:4 runs SQL (db.session.scalars)",
        "portal.merchant.orders:4 runs SQL (Order.query)",
    ]
