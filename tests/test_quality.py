"""ruff and mypy are part of the suite, so the README's test command proves them clean."""

import subprocess
import sys

from .conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_clean():
    result = run("ruff", "check", "src", "tests", "scripts", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
