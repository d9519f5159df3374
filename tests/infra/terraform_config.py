"""infra/terraform parsed with python-hcl2 into plain Python values.

python-hcl2 keeps the quotes of string literals and block labels ('"app.app"') and gives every
expression as a string ('${var.prefix}-x'); `load()` strips the quotes of literals, keeps expressions
as `${...}` strings, and merges the files of the module into one `Config`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "infra" / "terraform"
SKIP_COMMENT = re.compile(r"^checkov:skip=(CKV2?_AWS_\d+):(.*)$")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


def _comments(value: Any) -> list[str]:
    """Every comment python-hcl2 attached anywhere inside `value`."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "__comments__":
                found += [c["value"] if isinstance(c, dict) else str(c) for c in item]
            else:
                found += _comments(item)
    elif isinstance(value, list):
        for item in value:
            found += _comments(item)
    return found


@dataclass
class Config:
    """The module: `resources[type][name]`, `data[type][name]`, `locals`, `variables`, `outputs`."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    skips: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # (type, name) -> [(id, reason)]

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        """One resource body; KeyError names what is missing."""
        try:
            return self.resources[kind][name]
        except KeyError:
            raise KeyError(f"resource {kind}.{name} not in infra/terraform") from None


def load(directory: Path = TERRAFORM_DIR) -> Config:
    """Parse every *.tf file of the module; raises ImportError without python-hcl2."""
    import hcl2

    config = Config()
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            raw = hcl2.load(handle)
        for section, target in (("resource", config.resources), ("data", config.data)):
            for block in raw.get(section, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        k, n = _clean(kind), _clean(name)
                        target.setdefault(k, {})[n] = _clean(body)
                        if section == "resource":
                            config.skips[(k, n)] = [
                                (m.group(1), m.group(2).strip())
                                for m in (SKIP_COMMENT.match(c.strip()) for c in _comments(body)) if m
                            ]
        for block in raw.get("locals", []):
            config.locals.update(_clean(block))
        for block in raw.get("variable", []):
            config.variables.update(_clean(block))
        for block in raw.get("output", []):
            config.outputs.update(_clean(block))
    return config
