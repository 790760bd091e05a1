"""The examples in the docstrings and the README run and print what they show."""

import doctest
import pathlib
import re

import pytest

import cypool._adaptive_pool
import cypool._avg_pool
import cypool._global_pool
import cypool._max_pool
import cypool._unpool
import cypool.reference

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("module", [cypool._max_pool, cypool._avg_pool, cypool._adaptive_pool,
                                    cypool._global_pool, cypool._unpool, cypool.reference])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
