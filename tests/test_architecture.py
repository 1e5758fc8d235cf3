"""The import contracts of ``pyproject.toml`` hold: every import points down (the shell, the
edges, the seller side, the agent, knowledge, the floor), and no modules of a package import
each other in a circle. ``make lint`` runs the same check; here it runs with the suite, so a
change that breaks either fails ``make test`` too. And the index is reached through its own
methods: no caller reads one of its legs, and no one reads the private collection of
LangChain's Chroma store."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "lint-imports"
    # The tree itself, not an installed copy of it, is what the contract reads.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(command), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, check=False)


def test_every_import_points_down() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Layers point down KEPT" in result.stdout
    assert "No import circle KEPT" in result.stdout


def tree_with(tmp_path: Path, target: str, line: str) -> Path:
    """A copy of the tree (packages linked, the floor copied) with ``line`` added to one
    module of the floor."""
    for name in ("pyproject.toml", *{p.parent.name for p in ROOT.glob("*/__init__.py")}):
        source = ROOT / name
        if source.is_dir():
            os.symlink(source, tmp_path / name)
        else:
            (tmp_path / name).write_text(source.read_text())
    os.unlink(tmp_path / "base")
    (tmp_path / "base").mkdir()
    for module in (ROOT / "base").glob("*.py"):
        (tmp_path / "base" / module.name).write_text(module.read_text())
    with (tmp_path / "base" / target).open("a") as changed:
        changed.write(f"\n{line}  # noqa: E402,F401\n")
    return tmp_path


def test_an_import_that_points_up_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: the same tree with the floor importing a channel is refused."""
    result = lint_imports(tree_with(tmp_path, "money.py", "import channels.app"))
    assert result.returncode != 0
    assert "base.money -> channels.app" in result.stdout


def test_a_circle_of_imports_breaks_the_contract(tmp_path: Path) -> None:
    """The settings read the clock; the clock reading the settings closes a circle."""
    result = lint_imports(tree_with(tmp_path, "clock.py", "import base.settings"))
    assert result.returncode != 0
    assert "No import circle BROKEN" in result.stdout


# The index's legs, which only the index itself reads: a caller asks ``KnowledgeIndex`` (the
# agent, its ``knowledge.retriever.Retriever``). ``benchmarks`` measures the legs on purpose
# (each leg's latency and hit rate apart, the stored vectors filler pages derive from), and the
# tests hold the index's answers against its legs' own.
LEGS = frozenset({"lexical", "dense"})
READ_LEGS = frozenset({"knowledge", "benchmarks", "tests"})
PRIVATE = frozenset({"_collection"})  # LangChain's, not Chroma's: it may change in any release


def reaches_in(source: str, attributes: frozenset[str]) -> list[str]:
    """Each read of one of ``attributes`` in ``source``, as ``line: expression``."""
    return [f"{node.lineno}: {ast.unparse(node)}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in attributes]


def test_no_one_outside_knowledge_reads_a_leg_or_the_private_collection() -> None:
    found: list[str] = []
    for package in sorted(p.parent for p in ROOT.glob("*/__init__.py")):
        attributes = PRIVATE if package.name in READ_LEGS else LEGS | PRIVATE
        for module in sorted(package.rglob("*.py")):
            where = module.relative_to(ROOT)
            found += [f"{where}:{read}" for read in reaches_in(module.read_text(), attributes)]
    assert not found, "read through KnowledgeIndex instead:\n" + "\n".join(found)


def test_a_read_of_a_leg_or_the_private_collection_is_found() -> None:
    """The scan can fail: a caller reading the lexical leg, the dense leg's store."""
    source = "chunks = index.lexical.count()\nrows = index.dense.store._collection.get()\n"
    assert reaches_in(source, LEGS | PRIVATE) == [
        "1: index.lexical", "2: index.dense.store._collection", "2: index.dense"]
