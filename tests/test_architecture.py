"""The import contracts of ``pyproject.toml`` hold: every import points down (the shell, the
edges, the seller side, the agent, knowledge, the floor), and no modules of a package import
each other in a circle. ``make lint`` runs the same check; here it runs with the suite, so a
change that breaks either fails ``make test`` too."""

from __future__ import annotations

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
