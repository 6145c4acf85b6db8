"""The docs a user follows stay true to the repository: every relative link in README.md
and docs/*.md points at a file that exists, docs/ARCHITECTURE.md names every module of
the two packages (and none that is gone), and the layering it states holds: no library
module imports the command line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PACKAGES = ("streamdeblur", "trainer")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(doc: Path):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() or not path.is_relative_to(ROOT):
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)} links to files not in the repository: {broken}"


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_architecture_names_every_module():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = []
    for rel in _modules():
        if rel.name == "__init__.py":
            rel = rel.parent  # a package is named by its folder
            if len(rel.parts) == 1:
                continue
        # the layout lists each file under its folder by stem or by name
        if not re.search(rf"(?<![\w/.]){re.escape(rel.stem)}(\.py|/|\b)", text):
            missing.append(str(rel))
    assert not missing, f"docs/ARCHITECTURE.md does not mention: {missing}"


def test_no_library_module_imports_the_command_line():
    offenders = []
    for rel in _modules():
        if rel.parts[1] in ("cli.py", "commands"):
            continue
        tree = ast.parse((ROOT / rel).read_text())
        package = ".".join(rel.with_suffix("").parts[:-1] if rel.name != "__init__.py" else rel.parent.parts)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if len(parts) >= 2 and parts[0] == rel.parts[0] and parts[1] in ("cli", "commands"):
                    offenders.append(f"{rel}: {name}")
    assert not offenders, f"library modules import the CLI: {offenders}"
