"""The type stubs (``cypool/*.pyi``) agree with the installed package, so they cannot drift."""

import subprocess
import sys

import pytest

import cypool


def test_stubs_match_the_runtime(tmp_path):
    pytest.importorskip("mypy")
    # From an empty directory, so that the installed package is the one checked, and with an
    # empty configuration, so that no project or user mypy settings apply.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    completed = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "cypool", "--mypy-config-file", str(config)],
        cwd=tmp_path, capture_output=True, text=True,
        env={"MYPY_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_package_is_marked_typed():
    from importlib.resources import files
    assert files(cypool).joinpath("py.typed").is_file()
    assert files(cypool).joinpath("__init__.pyi").is_file()
