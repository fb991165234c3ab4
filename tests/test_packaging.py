"""What an install that is not editable (a wheel, the Docker image) carries: every data file the code reads."""
from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tracked(base: Path) -> set[Path]:
    """The files of `base` that git holds (a stray local file, a .db, is nobody's package data); all, without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", str(base)], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {p for p in base.rglob("*") if p.is_file()}
    return {ROOT / name for name in out.stdout.decode().split("\0") if name}


def test_every_data_file_of_the_packages_is_in_package_data():
    """bot/sample/tour.json was left out of the wheel: `connective demo` in the Docker image failed with "No such file
    or directory" (deploy walk-through)."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, patterns in package_data.items():
        base = ROOT / package
        shipped = {p for pattern in patterns for p in base.glob(pattern)}
        data = {p for p in tracked(base) if p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
        assert data, package
        assert data <= shipped, sorted(str(p.relative_to(ROOT)) for p in data - shipped)
