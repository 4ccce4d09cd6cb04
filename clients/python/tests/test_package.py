"""The package as installed: run-tests.sh installs the wheel into a fresh venv (PARLEY_TEST_WHEEL=1)."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

import parley
import parley.aio


def test_the_package_is_typed_and_exports_both_apis():
    root = Path(parley.__file__).resolve().parent
    assert (root / "py.typed").is_file()
    assert parley.AsyncAgent is parley.aio.AsyncAgent and "AsyncAgent" in parley.__all__ and "Agent" in parley.__all__


@pytest.mark.skipif(not os.environ.get("PARLEY_TEST_WHEEL"), reason="only when testing the installed wheel")
def test_the_tests_run_against_the_installed_wheel_of_parley_zmq():
    root = Path(parley.__file__).resolve().parent
    assert root != Path(__file__).resolve().parents[1] / "parley", root
    assert "site-packages" in root.parts
    assert importlib.metadata.version("parley-zmq") == parley.__version__
    files = [str(f) for f in importlib.metadata.files("parley-zmq") or []]
    assert {"parley/__init__.py", "parley/aio.py", "parley/py.typed"} <= set(files)
