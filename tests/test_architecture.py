"""The import contracts of ``pyproject.toml`` hold: every import points down (the shell, the
edges, the portal, the seller side, the agent, knowledge, the floor), and no modules of a
package import each other in a circle. ``make lint`` runs the same check; here it runs with
the suite, so a change that breaks either fails ``make test`` too. No module imports
another's private (underscore) names: what a module shares it names without one. And the
index is reached through its own methods: no caller reads one of its legs, and no one reads
the private collection of LangChain's Chroma store."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = frozenset(tomllib.loads((ROOT / "pyproject.toml").read_text())
                         ["tool"]["importlinter"]["root_packages"])


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


def private_imports(root: Path, packages: frozenset[str] = OUR_PACKAGES,
                    folders: frozenset[str] | None = None) -> list[str]:
    """Every ``from X import _name`` in the sources of ``folders`` (the packages and the
    suite) where X is one of ``packages`` (relative imports are ours too); dunder names such
    as ``__version__`` are public. A test uses what the module offers, as any caller does."""
    found = []
    for folder in sorted(folders if folders is not None else packages | {"tests"}):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                module = node.module or ""
                if node.level == 0 and module.split(".")[0] not in packages:
                    continue
                for alias in node.names:
                    name = alias.name
                    if name.startswith("_") and not (name.startswith("__")
                                                     and name.endswith("__")):
                        found.append(f"{path.relative_to(root)}:{node.lineno}: from "
                                     f"{'.' * node.level}{module} import {name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(ROOT) == []


def test_a_private_import_is_found(tmp_path: Path) -> None:
    """The scan can fail: a module importing another's private name is listed, a dunder
    name and a private name of another library are not."""
    (tmp_path / "portal").mkdir()
    (tmp_path / "portal" / "pages.py").write_text(
        "from base.clock import _parse, wall_clock\nfrom . import __version__\n"
        "from .auth import _hidden\nfrom os import _exit\n")
    assert private_imports(tmp_path, frozenset({"portal", "base"})) == [
        "portal/pages.py:1: from base.clock import _parse",
        "portal/pages.py:3: from .auth import _hidden"]
