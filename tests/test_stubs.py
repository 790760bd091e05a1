"""The type stubs (``cypool/*.pyi``) agree with the installed package, so they cannot drift."""

import importlib.util
import os
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
    options = []
    if importlib.util.find_spec("dask") is None:
        # cypool.dask needs the optional dask extra: without it, it cannot be checked.
        config.write_text("[mypy]\n[mypy-dask.*]\nignore_missing_imports = True\n")
        allowlist = tmp_path / "allowlist.txt"
        allowlist.write_text("cypool.dask\ncypool._dask_graph\n")
        options = ["--allowlist", str(allowlist)]
    # The child's environment is emptied too, but for the sanitizer runtime a sanitized build
    # needs in every process that loads it (.ci/sanitizers preloads libasan).
    environment = {"MYPY_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in os.environ:
            environment[name] = os.environ[name]
    completed = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "cypool", "--mypy-config-file", str(config),
         *options],
        cwd=tmp_path, capture_output=True, text=True,
        env=environment,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_package_is_marked_typed():
    from importlib.resources import files
    assert files(cypool).joinpath("py.typed").is_file()
    assert files(cypool).joinpath("__init__.pyi").is_file()
