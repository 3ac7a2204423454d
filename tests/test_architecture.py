"""The layout's rules, checked on the source: data flows one way, no cycles, no hidden imports.

Every module of host/ belongs to a stage (STAGES, in data-flow order). A module may import its
own stage and earlier ones, never a later one; commands (the ``python -m host.<command>``
modules) sit last and wire stages together. A function-local import of a project module must
say why on its line (a comment), so no link between modules hides inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HOST = Path(__file__).resolve().parent.parent / "host"

# Stage of every module or package prefix, in the order data flows through them.
STAGES: list[tuple[str, ...]] = [
    ("host.quiet", "host.errors", "host.paths", "host.versions", "host.datafile"),  # basics
    ("host.data",),
    ("host.zoo",),
    ("host.tflite",),
    ("host.compiler",),
    ("host.board",),
    ("host.backends",),
    ("host.attacks", "host.defenses", "host.metrics", "host.agreement"),
    ("host.records",),
    ("host.report",),
    ("host.run", "host.api", "host"),  # library entry points (run a campaign, an evaluation)
    (  # commands: thin wiring of the stages above
        "host.cli",
        "host.evaluate",
        "host.campaign",
        "host.train",
        "host.purify",
        "host.quantize",
        "host.flash",
        "host.emulator",
        "host.bench",
        "host.board.soak",
        "host.compiler.__main__",
        "host.report.__main__",
        "host.metrics.__main__",
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(HOST.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int:
    """The stage of a module: its longest matching prefix in STAGES."""
    best, rank = -1, None
    for index, names in enumerate(STAGES):
        for name in names:
            prefix = name != "host" and module.startswith(name + ".")
            if (module == name or prefix) and len(name) > best:
                best, rank = len(name), index
    if rank is None:
        raise AssertionError(f"{module} has no stage: add it to STAGES in {__file__}")
    return rank


def project_imports(path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported module, node, at function level) for every import of a host module."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = []
    local = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "host" or name.startswith("host."):
                found.append((_existing(name), node, id(node) in local))
    return found


def _existing(name: str) -> str:
    """``host.board.firmware`` stays; ``host.backends.get_backend`` becomes ``host.backends``."""
    parts = name.split(".")
    while len(parts) > 1:
        candidate = HOST.parent.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return name


MODULES = sorted(HOST.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "host")
def test_no_stage_imports_a_later_one(path: Path) -> None:
    importer = module_name(path)
    rank = stage_of(importer)
    for imported, node, _ in project_imports(path):
        assert stage_of(imported) <= rank, (
            f"{importer} (line {node.lineno}) imports {imported}, a later stage"
        )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "host")
def test_function_local_imports_say_why(path: Path) -> None:
    lines = path.read_text().splitlines()
    for imported, node, local in project_imports(path):
        if local:
            line = lines[node.lineno - 1]
            assert "#" in line, f"{module_name(path)}:{node.lineno} imports {imported} hidden"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of a module graph, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, trail: list[str]) -> list[str] | None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1 and imported != module:
                return [*trail[trail.index(imported) :], imported]
            if imported not in state:
                cycle = visit(imported, [*trail, imported])
                if cycle:
                    return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


def test_no_import_cycle() -> None:
    graph = {module_name(p): {name for name, _, _ in project_imports(p)} for p in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_rules_can_fail() -> None:
    """The checker sees a later-stage import and a cycle (so passing means something)."""
    assert stage_of("host.backends.device") > stage_of("host.board.client")
    assert stage_of("host.compiler.__main__") > stage_of("host.compiler.source")
    with pytest.raises(AssertionError, match="no stage"):
        stage_of("host.nowhere")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def documented_tree() -> set[str]:
    """The folders drawn in docs/architecture.md's tree, as relative paths."""
    text = (HOST.parent / "docs" / "architecture.md").read_text()
    block = text.split("```\n", 2)[1]
    paths, stack = set(), []
    for line in block.splitlines():
        name = line.split("  ")[0].strip() if not line.startswith(("│", "├", "└", " ")) else ""
        prefix = 0
        if not name:
            while line[prefix * 4 : prefix * 4 + 4] in ("│   ", "    ", "├── ", "└── "):
                prefix += 1
            name = line[prefix * 4 :].split()[0]
        stack[prefix:] = [name]
        paths.add("/".join(stack))
    return paths


def test_architecture_doc_draws_every_folder() -> None:
    """docs/architecture.md's tree is the real folder tree of host/ and firmware/."""
    root = HOST.parent
    real = {
        str(path.relative_to(root))
        for top in ("host", "firmware")
        for path in [root / top, *(root / top).rglob("*")]
        if path.is_dir() and "__pycache__" not in path.parts
    }
    assert documented_tree() == real
