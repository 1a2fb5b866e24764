"""Import rules over every module of ``bot`` found on disk, so they hold for modules not yet
written: the core imports only the standard library and itself, and every outside package the
bot imports is a declared dependency. (Layers, circles, itchat and the WeCom SDK: lint-imports,
from pyproject.toml.)"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "bot"


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for each absolute import in a file, TYPE_CHECKING blocks included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def modules(under: Path) -> list[Path]:
    found = sorted(under.rglob("*.py"))
    assert found, f"no modules under {under}"
    return found


def outside_imports(paths: list[Path]) -> dict[str, list[str]]:
    """Top-level outside module -> where it is imported (file:line)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        for line, name in imports_of(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "bot" and top != "__future__":
                found.setdefault(top, []).append(f"{path.name}:{line}")
    return found


def core_violations(core: Path) -> list[str]:
    """Imports in the core of anything but the standard library, bot.errors and bot.core."""
    wrong = []
    for path in modules(core):
        for line, name in imports_of(path):
            top = name.split(".")[0]
            inside = name == "bot.errors" or name == "bot.core" or name.startswith("bot.core.")
            outside = top not in sys.stdlib_module_names and top not in ("bot", "__future__")
            if (top == "bot" and not inside) or outside:
                wrong.append(f"{path.name}:{line} imports {name}")
    return wrong


def test_the_core_imports_only_the_standard_library_errors_and_itself() -> None:
    assert core_violations(BOT / "core") == []


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0] for req in project["dependencies"]]
    return {name.lower().replace("_", "-") for name in names}


def test_every_outside_package_the_bot_imports_is_a_declared_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for top, where in outside_imports(modules(BOT)).items():
        owners = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
        if not owners & declared():
            missing[top] = where[:3]
    assert missing == {}, "add these to [project] dependencies in pyproject.toml"


def test_the_core_rule_sees_a_module_added_later(tmp_path: Path) -> None:
    """The rule walks the folder, not a list: a new module is held to it like the others."""
    core = tmp_path / "core"
    core.mkdir()
    (core / "pipeline.py").write_text("import math\nfrom bot.core import names\n", "utf-8")
    (core / "later.py").write_text(
        "import subprocess\nimport yaml\nfrom bot.adapters import audit\n", "utf-8"
    )

    assert core_violations(core) == [
        "later.py:2 imports yaml",
        "later.py:3 imports bot.adapters",
    ]
