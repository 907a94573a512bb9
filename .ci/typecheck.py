"""Type-check the package as it is installed: ``python .ci/typecheck.py [mypy options]``.

The import package ``inversynth`` is assembled from top-level folders (``package-dir`` in
pyproject.toml), which a type checker cannot follow through the editable install's import hook. This
builds that package as a tree of links under build/typecheck/ (from pyproject.toml, so it never goes
stale) and runs mypy on it with the configuration in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"


def link_tree() -> Path:
    """build/typecheck/inversynth/...: a real folder per mapped package, a link per file and sub-folder."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    for package, folder in sorted(mapping.items()):  # parents before children
        target = TREE.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        mapped_children = {p.split(".")[-1] for p in mapping if p.startswith(package + ".") and p.count(".") ==
                           package.count(".") + 1}  # fmt: skip
        for entry in (ROOT / folder).iterdir():
            if entry.name in mapped_children or entry.name == "__pycache__":
                continue
            (target / entry.name).symlink_to(entry)
    return TREE / "inversynth"


def main() -> int:
    package = link_tree()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *sys.argv[1:], str(package)]
    return subprocess.call(command, cwd=TREE)


if __name__ == "__main__":
    sys.exit(main())
