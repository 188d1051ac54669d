"""Shared fixtures. Tests never depend on ../shared: they make their own small data."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(name: str, apt_package: str) -> str:
    """Path of a system program a test needs. Missing: a loud skip here, a failure in CI."""
    path = shutil.which(name)
    if path:
        return path
    message = (f"{name} is not installed: `sudo apt-get install {apt_package}` (or run .ci/run, which "
               f"installs every system package the tests need)")
    if IN_CI:
        pytest.fail(message)
    pytest.skip("MISSING SYSTEM PACKAGE: " + message)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def venv_scripts_on_path():
    """nbgrader and jupyter-book start helper programs (alembic, kernels) found on PATH."""
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
