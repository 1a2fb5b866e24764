"""The error tree stays whole: every raise names a specific class, and a raise inside an
``except ... as exc`` keeps the cause (``from exc``), so ``-v`` can show it."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.errors
from tests.conftest import REPO

GENERAL = {"BotError", "ChatError", "ServingError"}  # bases: never raised themselves


def _sources() -> list[Path]:
    return sorted((REPO / "bot").rglob("*.py"))


def _raises(tree: ast.AST) -> list[tuple[ast.Raise, ast.ExceptHandler | None]]:
    found: list[tuple[ast.Raise, ast.ExceptHandler | None]] = []

    def walk(node: ast.AST, handler: ast.ExceptHandler | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                walk(child, None)  # a nested function is not inside the handler when it runs
            elif isinstance(child, ast.ExceptHandler):
                walk(child, child)
            else:
                if isinstance(child, ast.Raise):
                    found.append((child, handler))
                walk(child, handler)

    walk(tree, None)
    return found


def test_no_module_raises_a_general_error_class() -> None:
    general = []
    for path in _sources():
        for node, _ in _raises(ast.parse(path.read_text(encoding="utf-8"))):
            call = node.exc
            name = (
                call.func.id
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                else ""
            )
            if name in GENERAL:
                general.append(f"{path.relative_to(REPO)}:{node.lineno} raises {name}")
    assert general == []


def test_a_new_error_raised_while_handling_another_keeps_it_as_its_cause() -> None:
    dropped = []
    for path in _sources():
        for node, handler in _raises(ast.parse(path.read_text(encoding="utf-8"))):
            cause = node.cause
            if isinstance(cause, ast.Constant) and cause.value is None:
                dropped.append(f"{path.relative_to(REPO)}:{node.lineno} (from None)")
                continue
            if handler is None or handler.name is None or node.exc is None:
                continue  # a bare `raise` re-raises; outside a handler there is no cause
            if not (isinstance(cause, ast.Name) and cause.id == handler.name):
                dropped.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert dropped == []


def test_the_tree_in_the_docstring_names_every_error_class() -> None:
    classes = [
        name
        for name, value in vars(bot.errors).items()
        if isinstance(value, type) and issubclass(value, bot.errors.BotError)
    ]
    doc = bot.errors.__doc__ or ""
    assert [name for name in classes if name not in doc] == []
