"""Shared pytest configuration: hypothesis profiles.

Choose one with the environment variable ``CYPOOL_HYPOTHESIS_PROFILE``:

- ``ci`` (default): a bounded number of examples per test, so the suite stays fast.
- ``long``: many more examples, for a thorough run by hand or on a schedule.
- ``dev``: very few examples, for a quick edit-run loop.
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

settings.register_profile("ci", max_examples=150, **_COMMON)
settings.register_profile("long", max_examples=3000, **_COMMON)
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.load_profile(os.environ.get("CYPOOL_HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config):
    # The suite tests the installed package (`pip install ".[test]"`), not the source tree:
    # run `pytest`, not `python -m pytest`, which would put the uncompiled sources first.
    import cypool
    from cypool._backend import ISA_LEVEL

    return f"cypool {cypool.__version__} from {cypool.__file__}, ISA level {ISA_LEVEL}"
