"""The layout's arrows, checked on the source: every import statement, those inside functions too."""

from __future__ import annotations

import ast

from conftest import REPO

PACKAGE = REPO / "lrcn"
FORBIDDEN = {("models", "runtime"), ("models", "train"), ("export", "train")}


def _target(node: ast.AST, module: str) -> list[str]:
    """The lrcn modules an import statement in `module` (dotted) names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("lrcn.")]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            base = module.split(".")[: -node.level]
            name = ".".join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ""
        if name == "lrcn":  # from lrcn import runtime -> lrcn.runtime
            return [f"lrcn.{a.name}" for a in node.names]
        return [name] if name.startswith("lrcn.") else []
    return []


def package_edges() -> dict[tuple[str, str], list[str]]:
    """(from package, to package) -> the files that make that arrow."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO)
        if len(rel.parts) < 3:  # lrcn/__init__.py and friends belong to no package
            continue
        module = ".".join(rel.with_suffix("").parts)
        src = rel.parts[1]
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            for name in _target(node, module):
                dst = name.split(".")[1]
                if dst != src and (PACKAGE / dst).is_dir():
                    edges.setdefault((src, dst), []).append(f"{rel}:{node.lineno}")
    return edges


def cycles(edges) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found, done = [], set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            found.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, stack + [node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_the_parser_sees_every_kind_of_import(tmp_path):
    tree = ast.parse(
        "import lrcn.train.run\nfrom lrcn.runtime import video\nfrom lrcn import export\n"
        "def f():\n    from ..train import loop\n"
    )
    names = [n for node in ast.walk(tree) for n in _target(node, "lrcn.models.x")]
    assert sorted(names) == ["lrcn.export", "lrcn.runtime", "lrcn.train", "lrcn.train.run"]
    assert cycles({("a", "b"): [], ("b", "c"): [], ("c", "a"): []}) == [["a", "b", "c", "a"]]
    assert cycles({("a", "b"): [], ("a", "c"): [], ("b", "c"): []}) == []


def test_no_forbidden_arrow_between_packages():
    edges = package_edges()
    assert ("train", "models") in edges and ("export", "models") in edges  # the parser does see arrows
    bad = {f"{a} -> {b}": where for (a, b), where in edges.items() if (a, b) in FORBIDDEN}
    assert not bad, bad


def test_runtime_and_core_import_only_below_them():
    edges = package_edges()
    allowed = {"runtime": {"core"}, "core": set()}
    bad = {f"{a} -> {b}": where for (a, b), where in edges.items() if a in allowed and b not in allowed[a]}
    assert not bad, bad


def test_no_cycle_between_packages():
    assert cycles(package_edges()) == []


# -- between modules: private names and cycles -------------------------------------------------


def _module_name(path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, str | None, int]]:
    """(lrcn module imported, name taken from it or None, line) for every import statement of `module`,
    those inside functions too; imports under `if TYPE_CHECKING:` are for the type checker only and
    are left out. `from lrcn.runtime import video` names the module lrcn.runtime.video when it is one."""
    tree = ast.parse(source)
    typing_only = {
        id(x)
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for stmt in n.body
        for x in ast.walk(stmt)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("lrcn.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name != "lrcn" and not name.startswith("lrcn."):
                continue
            for a in node.names:
                sub = f"{name}.{a.name}"
                found.append((sub, None, node.lineno) if sub in MODULES else (name, a.name, node.lineno))
    return found


def module_edges() -> dict[tuple[str, str], list[str]]:
    """(importing module, imported module) -> where; every lrcn module, imports inside functions too.

    Only lrcn modules are nodes: lazy imports of torch and optional third-party packages (made
    inside functions for speed) are not edges, and they are the one kind of lazy import allowed."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in MODULES.items():
        for target, _, line in module_imports(path.read_text(), module, path.name == "__init__.py"):
            if target != module and target in MODULES:
                edges.setdefault((module, target), []).append(f"{path.relative_to(REPO)}:{line}")
    return edges


def test_the_module_parser_resolves_submodules_relative_imports_and_skips_type_only_ones():
    src = (
        "from typing import TYPE_CHECKING\nfrom lrcn.runtime import video, VideoClassifier\n"
        "from .engine import _x\nif TYPE_CHECKING:\n    from lrcn.runtime.timeline import Timeline\n"
        "def f():\n    import lrcn.train.run\n"
    )
    got = {(t, n) for t, n, _ in module_imports(src, "lrcn.runtime.stream")}
    assert got == {
        ("lrcn.runtime.video", None),
        ("lrcn.runtime", "VideoClassifier"),
        ("lrcn.runtime.engine", "_x"),
        ("lrcn.train.run", None),
    }
    assert module_edges()  # the tree has edges at all


def test_no_module_imports_a_private_name_from_another_package():
    """`from lrcn.runtime.scheduler import _Slot` in lrcn/serve is the coupling issue 25 removed."""
    bad = []
    for module, path in MODULES.items():
        for target, name, line in module_imports(path.read_text(), module, path.name == "__init__.py"):
            private = (name or target.rsplit(".", 1)[-1]).startswith("_") and not (name or "").startswith("__")
            if private and target.split(".")[:2] != module.split(".")[:2]:
                bad.append(f"{path.relative_to(REPO)}:{line}: {target} {name or ''}".strip())
    assert not bad, bad


def test_no_cycle_between_modules_counting_imports_inside_functions():
    found = cycles(module_edges())
    assert not found, [" -> ".join(c) for c in found]


# -- vc-run's front end sits on the runtime library, never under it ------------------------------

FRONT_END = "lrcn.runtime.vcrun"


def test_the_library_never_imports_vc_runs_front_end():
    """`lrcn/runtime/` outside `vcrun/` is the library (vc-serve, vc-bench, export and Python users import
    it); the arrow runs one way, so nothing but vc-run itself imports `lrcn.runtime.vcrun` (tests may)."""
    assert any(a.startswith(FRONT_END) and b.startswith("lrcn.runtime.") for a, b in module_edges())  # seen
    bad = [
        f"{a} -> {b}: {where}"
        for (a, b), where in module_edges().items()
        if b.startswith(FRONT_END) and not (a == FRONT_END or a.startswith(FRONT_END + "."))
    ]
    assert not bad, bad
