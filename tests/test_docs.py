"""Documentation: every public name has a numpydoc docstring with an example, and the
README's examples run. (The docstring examples themselves run under
``pytest --doctest-modules --pyargs cypool``, a step of ``.ci/run``.)"""

import importlib.util
import inspect
import pathlib
import re

import pytest

import cypool

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name", cypool.__all__)
def test_public_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(getattr(cypool, name))
    assert doc, f"{name} has no docstring"
    assert "Examples\n--------" in doc and ">>>" in doc, f"{name} has no example"
    if not name.startswith(("get_", "set_")):
        assert "Parameters\n----------" in doc, f"{name} documents no parameters"


@pytest.mark.parametrize("name", [name for name in cypool.__all__
                                  if inspect.isclass(getattr(cypool, name))])
def test_public_methods_have_docstrings(name):
    for method_name, method in inspect.getmembers(getattr(cypool, name), inspect.isfunction):
        if not method_name.startswith("_"):
            assert inspect.getdoc(method), f"{name}.{method_name} has no docstring"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        if "import dask" in block and importlib.util.find_spec("dask") is None:
            continue  # the optional dask extra is not installed
        exec(compile(block, str(README), "exec"), {})
