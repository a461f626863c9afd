"""The docs live in the repository: every relative link resolves, nothing points outside the
repository, and the README's layout table names exactly the top-level folders of the tree."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for md in _markdown_files():
        for target in LINK.findall(md.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (md.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{md.relative_to(ROOT)} → {target}")
            elif ROOT not in path.parents and path != ROOT:
                broken.append(f"{md.relative_to(ROOT)} → {target} (outside the repository)")
    assert broken == []


def test_no_tracked_file_refers_to_the_shared_folder_outside_the_repository():
    offenders = []
    for name in _tracked_files():
        path = ROOT / name
        if name == "tests/test_docs.py" or path.suffix in {".png", ".pdf", ".parquet", ".db"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        if "../shared" in text or "shared/DESIGN.md" in text:
            offenders.append(name)
    assert offenders == []


def test_the_readme_layout_table_names_the_top_level_folders():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)/`", section))
    folders = {name.split("/", 1)[0] for name in _tracked_files() if "/" in name}
    folders = {f for f in folders if not f.startswith(".")}
    assert named == folders
