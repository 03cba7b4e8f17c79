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
