"""The layers contract of ``pyproject.toml`` holds: every import points down (the shell, the
edges, the seller side, the agent, knowledge, the floor). ``make lint`` runs the same check;
here it runs with the suite, so a change that points an import up fails ``make test`` too."""

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


def test_an_import_that_points_up_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: the same tree with the floor importing a channel is refused."""
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
    with (tmp_path / "base" / "money.py").open("a") as money:
        money.write("\nimport channels.app  # noqa: E402,F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "base.money -> channels.app" in result.stdout
