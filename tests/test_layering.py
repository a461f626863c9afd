"""Imports go one way only: ledger → features → model → serving."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ledger", "features", "model", "serving"]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_against_the_direction(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    offenders = []
    for path in (ROOT / layer).rglob("*.py"):
        bad = imports_of(path) & above
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not offenders, "\n".join(offenders)


def test_the_check_catches_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from serving.app import create_app\nimport model.train\n")
    assert imports_of(module) == {"serving", "model"}
