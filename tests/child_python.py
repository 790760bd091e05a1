"""Python in a child process that imports the cypool these tests import.

The child starts in a scratch directory with the tested package's directory first on its path:
`python -c` and `python -m` put their working directory first on the path, and from a checkout's
root that is the uncompiled source package whenever the tested cypool is an installed one.
"""

import os
import pathlib
import subprocess
import sys
import tempfile

import cypool

# Where the tested package lies: site-packages, or a checkout with an in-place build.
PACKAGE_ROOT = str(pathlib.Path(cypool.__file__).resolve().parent.parent)


def run_python(args, env=None, **options):
    """subprocess.run of `python *args` with `env` added to this process's environment."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (PACKAGE_ROOT, environment.get("PYTHONPATH")) if path)
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run([sys.executable, *args], cwd=scratch, env=environment, **options)
