"""The package's layering: every module imports on its own, the import graph has no cycle, and parsing
the Snakefile imports neither matplotlib nor torch (docs/design.md "Package layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_workflow import SNAKEFILE, subprocess_env, tiny_project

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dwsynapse"
HEAVY = ("matplotlib", "torch")  # what the Snakefile's own Python code must not import


def module_name(path: Path) -> str:
    """Dotted module name of a file under src/dwsynapse (a package by its __init__.py)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules that ``path`` imports anywhere (module level and inside functions), relative
    imports resolved; ``from pkg import name`` counts ``pkg.name`` where that is a module."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != me}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules importing it runs: the imported modules, the packages above them
    (their __init__ runs first) unless the importer is inside that package, and for the command line
    the stage modules it loads by name (``dwsynapse.cli.COMMAND_MODULES``)."""
    modules = package_modules()
    graph = {}
    for name, path in modules.items():
        deps = set()
        for target in imported_modules(path, modules):
            deps.add(target)
            parts = target.split(".")
            for k in range(2, len(parts)):
                parent = ".".join(parts[:k])
                if not name.startswith(parent + "."):
                    deps.add(parent)
        graph[name] = deps - {name, "dwsynapse"}
    from dwsynapse.cli import COMMAND_MODULES

    graph["dwsynapse.cli"] |= set(COMMAND_MODULES)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_every_module_imports_in_a_fresh_interpreter():
    names = [n for n in package_modules() if n != "dwsynapse.__main__"]  # __main__ runs the command line
    code = "import importlib\nfor name in %r:\n    importlib.import_module(name)\n" % names
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert "dwsynapse.layout" in graph["dwsynapse.plots"] and "dwsynapse.energy" in graph["dwsynapse.plots.figures"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


REPORT = ("dwsynapse.plots", "dwsynapse.reproduction", "dwsynapse.targets")  # the layer below the command line


def test_dependencies_point_one_way():
    """Only the command line imports the command line, and only the report layer (figures, the
    reproduction table, the report rules' files) imports the report layer."""
    graph = import_graph()

    def in_report(name: str) -> bool:
        return any(name == r or name.startswith(r + ".") for r in REPORT)

    upward = {(m, d) for m, deps in graph.items() for d in deps
              if (d == "dwsynapse.cli" and m != "dwsynapse.__main__")
              or (in_report(d) and not in_report(m) and m not in ("dwsynapse.cli", "dwsynapse.__main__"))}
    assert not upward, sorted(upward)


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_low_layers_import_only_the_standard_library_or_numpy():
    """The results layout and the paper's numbers are standard library only (the Snakefile and every
    stage read them); levels and table writers add numpy and the atomic-write helper at most."""
    graph = import_graph()
    for name in ("dwsynapse.layout", "dwsynapse.paper", "dwsynapse.constants"):
        assert graph[name] == set(), (name, graph[name])
        tree = ast.parse(package_modules()[name].read_text())
        roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert roots <= set(sys.stdlib_module_names) | {"__future__"}, (name, roots)
    assert graph["dwsynapse.levels"] <= {"dwsynapse.paper"}
    assert graph["dwsynapse.tabular"] <= {"dwsynapse.io"}


def test_parsing_the_snakefile_imports_neither_matplotlib_nor_torch(tmp_path):
    """A dry run in one interpreter (Snakemake's own entry point) plans every rule; afterwards neither
    matplotlib nor torch is in sys.modules."""
    config = tiny_project(tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from snakemake.cli import main
        try:
            main(["-s", {str(SNAKEFILE)!r}, "-d", {str(tmp_path)!r}, "--configfile", {str(config)!r}, "-n",
                  "--cores", "1", "--quiet"])
        except SystemExit as exc:
            if exc.code:
                raise
        assert "dwsynapse.targets" in sys.modules, "the dry run did not parse the report rules"
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-2000:]


def test_schema_and_templates_are_package_data():
    """The config schema and the mumax3 templates live in the package (importlib.resources finds them
    in a non-editable install too); the checkout's workflow/schemas/ and mumax_templates/ link to them."""
    import tomllib
    from importlib.resources import files

    from dwsynapse.config import SCHEMA_PATH
    from dwsynapse.mx3 import TEMPLATE_DIR

    resources = Path(str(files("dwsynapse"))) / "resources"
    assert SCHEMA_PATH == resources / "config.schema.yaml" and SCHEMA_PATH.is_file()
    assert TEMPLATE_DIR == resources / "mumax_templates" and sorted(p.name for p in TEMPLATE_DIR.glob("*.mx3"))
    repo = PACKAGE.parents[1]
    assert (repo / "workflow" / "schemas" / "config.schema.yaml").resolve() == SCHEMA_PATH.resolve()
    assert (repo / "mumax_templates").resolve() == TEMPLATE_DIR.resolve()
    with open(repo / "pyproject.toml", "rb") as fh:
        shipped = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["dwsynapse"]
    assert {"py.typed", "resources/config.schema.yaml", "resources/mumax_templates/*.mx3"} <= set(shipped)
    assert (PACKAGE / "py.typed").is_file()
