"""Reading contract files (JSON Lines) into pydantic models, all or nothing.

A file is validated whole before anything is returned, so a caller never writes half a file;
every error names the file, the line and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
MAX_REPORTED_ERRORS = 20


class DataFileError(ValueError):
    """A data file breaks its contract; ``problems`` holds one line per defect."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        super().__init__(f"{path}: {len(problems)} error(s)\n{text}")


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('price', 'amount')`` -> ``price.amount``; ``('bullets', 2)`` -> ``bullets[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(line)"


def describe_validation_error(where: str, error: ValidationError) -> list[str]:
    return [
        f"{where}: field '{field_path(tuple(e['loc']))}': {e['msg']}" for e in error.errors()
    ]


def iter_json_lines(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (line number, parsed JSON) for every non-blank line; raise on the first bad line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(path, [f"{path}:{number}: not valid JSON: {exc.msg}"]) from exc


def read_jsonl(path: Path, model: type[Model]) -> list[Model]:
    if not path.is_file():
        raise DataFileError(path, [f"{path}: no such file"])
    records: list[Model] = []
    problems: list[str] = []
    try:
        for number, raw in iter_json_lines(path):
            if not isinstance(raw, dict):
                kind = type(raw).__name__
                problems.append(f"{path}:{number}: expected a JSON object, got {kind}")
                continue
            try:
                records.append(model.model_validate(raw))
            except ValidationError as exc:
                problems.extend(describe_validation_error(f"{path}:{number}", exc))
    except UnicodeDecodeError as exc:
        raise DataFileError(path, [f"{path}: not UTF-8 ({exc.reason})"]) from exc
    if problems:
        raise DataFileError(path, problems)
    return records
