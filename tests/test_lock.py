"""`make install` installs requirements.lock: every dependency pyproject.toml names must be pinned
there, or a fresh clone would install without it (run `make lock` after changing dependencies)."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (`Dask[dataframe]>=1` → `dask`)."""
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_declared_dependency_is_pinned_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    pinned = {m.group(1).lower().replace("_", "-")
              for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", (ROOT / "requirements.lock").read_text(), re.M)}
    assert declared - pinned == set(), "run `make lock`: these are declared but not pinned"


def test_the_name_parser():
    assert _name("dask[distributed,dataframe]>=2024.8") == "dask"
    assert _name("psycopg[binary]>=3.2") == "psycopg"
    assert _name("pandas>=2.2,<3") == "pandas"
    assert _name("email_validator") == "email-validator"
