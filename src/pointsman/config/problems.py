"""Config problems: what is wrong, at which key path (`rules[2].when.any[1]`), on which line of the file.

Shared by the loader (structure and references) and the policy builder (rule conditions checked against
the built signals), so every config mistake reads the same way:
`gateway.yaml:14: profiles[1].candidates[0]: unknown backend 'gpt-5' (known: a, b)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        key = format_loc(self.loc)
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


class ConfigError(ValueError):
    """A config file that cannot be used; `problems` lists each one with its key path."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest node of `loc` that exists in the YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
            if node is None:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


@dataclass(frozen=True)
class Source:
    """Where a config came from (file name, YAML tree, folder), to put line numbers on later problems."""

    name: str = "<config>"
    root: yaml.Node | None = None
    base_dir: Path | None = None

    def line(self, loc: Loc) -> int | None:
        return line_of(self.root, loc)

    def error(self, problems: Iterable[Problem]) -> ConfigError:
        return ConfigError(
            self.name, [Problem(p.loc, p.message, p.line or self.line(p.loc)) for p in problems]
        )
