"""The house rules of imports: one direction between layers (ledger → features → model →
serving), no import cycle between modules, and no function-local import hiding one."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ledger", "features", "model", "serving"]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_against_the_direction(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    offenders = []
    for path in (ROOT / layer).rglob("*.py"):
        bad = imports_of(path) & above
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not offenders, "\n".join(offenders)


def test_the_check_catches_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from serving.app import create_app\nimport model.train\n")
    assert imports_of(module) == {"serving", "model"}


# --- cycles ------------------------------------------------------------------------------------
# The graph holds every import of a project module, at the top of a module or inside a function
# (those under `if TYPE_CHECKING:` aside: they never run). A function-local import that dodges a
# cycle is therefore still an edge of that cycle, and fails here like a top-level one. A local
# import that closes no cycle (a heavy dependency loaded lazily by a command) is allowed.

def module_names(root: Path, packages: list[str]) -> dict[str, Path]:
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def import_graph(root: Path, packages: list[str]) -> dict[str, set[str]]:
    """module → the project modules it imports (`from a import b` counts `a.b` when it is one)."""
    modules = module_names(root, packages)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(resolve(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                module = resolve(node.module)
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else module)
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules():
    found = cycles(import_graph(ROOT, LAYERS))
    assert not found, "import cycles (local imports included):\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_the_check_catches_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import helper\n\n\ndef f():\n    return helper()\n")
    (package / "b.py").write_text("def helper():\n    from pkg import a  # dodges the cycle\n    return a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == set()  # a type-checking import never runs
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_a_lazy_import_closing_no_cycle_is_allowed(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("def main():\n    from pkg.heavy import run\n    return run()\n")
    (package / "heavy.py").write_text("def run():\n    return 1\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == []


# --- today's date -------------------------------------------------------------------------------
# Below the edge nothing reads the clock: a route takes today from `serving.deps.get_today` (the
# one dependency, which honours a date the app pins for demos and tests), a command from the
# clock, and everything under them is given the date. A replay, a test or a demo then sees the
# ledger exactly as of the day it names.

EDGE = ("serving/deps.py", "serving/cli.py", "serving/commands/")
# still reading the clock below the edge, to be given the date by its callers
NOT_YET: dict[str, int] = {}


def clock_reads(source: str) -> int:
    """How many times `source` asks for today's date (`date.today()`, `dt.date.today()`,
    `datetime.date.today()`), comments and strings aside."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "today" and not node.args
                and ast.unparse(node.func.value).split(".")[-1] == "date"):
            count += 1
    return count


def test_no_module_below_the_edge_reads_todays_date():
    offenders = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(EDGE):
                continue
            reads = clock_reads(path.read_text(encoding="utf-8"))
            if reads != NOT_YET.get(name, 0):
                offenders.append(f"{name}: date.today() {reads} time(s)")
    assert not offenders, "pass the date in (serving.deps.TodayDep in a route):\n" + "\n".join(offenders)


def test_the_clock_check_sees_every_spelling():
    source = ("import datetime\nimport datetime as dt\nfrom datetime import date\n"
              "a = date.today()\nb = dt.date.today()\nc = datetime.date.today()\n"
              "# date.today() in a comment\nd = 'date.today()'\ne = pd.Timestamp.today()\n")
    assert clock_reads(source) == 3


def test_the_architecture_page_names_every_ledger_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = page.split("### The ledger, module by module", 1)[1].split("\n## ", 1)[0]
    table = next(part for part in section.split("\n\n") if part.startswith("| concern"))
    named = set(re.findall(r"`([a-z_]+\.py|[a-z_]+/)`", table))
    modules = {p.name for p in (ROOT / "ledger").glob("*.py") if p.name != "__init__.py"}
    folders = {f"{p.name}/" for p in (ROOT / "ledger").iterdir() if p.is_dir() and not p.name.startswith("_")}
    # the tables' own modules are named inside the `tables/` row
    named -= {p.name for p in (ROOT / "ledger" / "tables").glob("*.py")} - modules
    assert named == modules | folders
