"""Sites built once per test run and shared by the tests of the machine-readable outputs
(JSON-LD, data, feeds): see opendata.py for what each holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opendata import BASE_URL, FULL, HOSTILE, SHIPPED, build_copy, write_content


@pytest.fixture(scope="session")
def full_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full fixture, built without a base URL."""
    return build_copy(tmp_path_factory.mktemp("full"), FULL)


@pytest.fixture(scope="session")
def full_site_based(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full fixture, built with BASE_URL."""
    return build_copy(tmp_path_factory.mktemp("full-based"), FULL, BASE_URL)


@pytest.fixture(scope="session")
def shipped_site_based(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example content of the repository, built with BASE_URL."""
    return build_copy(tmp_path_factory.mktemp("shipped-based"), SHIPPED, BASE_URL)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small site whose texts try to break out of every format, without a base URL."""
    folder = tmp_path_factory.mktemp("hostile")
    return build_copy(folder, write_content(folder / "source", HOSTILE))


def public_suite(name: str) -> Path:
    """A folder of the public test suites (see the testdata README), from FACTSHEET_TESTDATA.

    Without the variable the test is skipped, except under CI (CI=true), where it fails.
    """
    root = os.environ.get("FACTSHEET_TESTDATA")
    if not root:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but FACTSHEET_TESTDATA is not set: the public suites must run")
        pytest.skip("FACTSHEET_TESTDATA is not set")
    folder = Path(root) / name
    if not folder.exists():
        pytest.fail(f"FACTSHEET_TESTDATA holds no {name}: {folder} is missing")
    return folder
