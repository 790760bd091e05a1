"""Bad arguments to every public function, one test per class of bad input.

Each bad call must raise ValueError (bad values, shapes, sizes) or TypeError (bad types,
dtypes) whose message names the argument, and must change no memory it was not asked to write:
no input array, and nothing around an ``out=`` buffer (every ``out=`` given here is a view into
a larger buffer filled with a marker, and the whole buffer is compared afterwards).

A case of a table spoils one argument of a valid call (``valid_arguments``; that the valid
calls pass is checked too) and applies to every public function that takes that argument, so
a new function or argument is covered by the tables it fits. ``test_every_argument_is_covered``
keeps the tables complete. Layer classes take part too: their constructor arguments and the
steps of a call (``train(mode)``, ``forward(input)``, ``backward(grad_output)``) are spoiled
like a function's arguments, and an error may come at any step (as in torch, a layer checks its
sizes against each input).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re

import numpy as np
import pytest

import cypool
from cypool import reference

LEAD = (2, 3)                                     # batch and channel axes of the valid calls
SPATIAL = {1: (8,), 2: (6, 7), 3: (4, 5, 6)}
KERNEL_SIZE = 2                                   # valid calls pool with 2, stride 2
MARKER = -777                                     # fills the memory around every out= buffer


# --------------------------------------------------------------------------------------
# The valid calls
# --------------------------------------------------------------------------------------

# A layer's call: layer.train(mode), then forward(input), then backward(grad_output). These
# steps take part in the tables as if they were arguments of the layer's constructor.
LAYER_STEPS = ("mode", "input", "grad_output")
NOT_CALLED = object()         # an input of NOT_CALLED: the layer's forward is not called


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a public function (or layer class) is: ``max_pool2d_backward`` is kind "max", family
    "pool", 2-d, backward; ``AdaptiveAvgPool3d`` is kind "avg", family "layer", 3-d."""

    function: str
    batch: int = LEAD[0]

    @property
    def family(self):
        """"pool" (window pooling), "adaptive", "global", "fractional", "unpool", "lp",
        "layer" or "threads"."""
        if self.function[0].isupper():
            return "layer"
        if self.function.endswith("num_threads"):
            return "threads"
        if "unpool" in self.function:
            return "unpool"
        if self.function.startswith("lp_pool"):
            return "lp"
        if self.function.startswith("fractional"):
            return "fractional"
        return re.match(r"(adaptive|global)?", self.function).group(0) or "pool"

    @property
    def kind(self):
        return "max" if re.search("max", self.function, re.IGNORECASE) else "avg"

    @property
    def n_dims(self):
        return int(re.search(r"(\d)d", self.function).group(1))

    @property
    def backward(self):
        return self.function.endswith("_backward")

    @property
    def input_shape(self):
        """Shape of the pooled array (the unpooled one, for unpool)."""
        return (self.batch, LEAD[1]) + SPATIAL[self.n_dims]

    @property
    def output_spatial(self):
        if self.family == "global":
            return (1,) * self.n_dims
        return tuple(n // KERNEL_SIZE for n in SPATIAL[self.n_dims])

    @property
    def output_shape(self):
        """Shape of the pooling result (of unpool's input)."""
        return (self.batch, LEAD[1]) + self.output_spatial

    @property
    def result_shape(self):
        """Shape of what the function writes (the values, for max with indices)."""
        if self.family == "unpool":  # unpool's backward gives the pooled shape back
            return self.output_shape if self.backward else self.input_shape
        return self.input_shape if self.backward else self.output_shape

    def array_shape(self, name):
        """Shape of the array argument ``name`` in the valid call."""
        if name == "input" and self.family != "unpool":
            return self.input_shape
        if name == "grad_output" and self.family == "unpool":  # the unpooled array's gradient
            return self.input_shape
        return self.output_shape

    def parameters(self):
        names = parameter_names(self.function)
        return names + LAYER_STEPS if self.family == "layer" else names


@functools.cache  # asked for every case of every table while collecting
def parameter_names(function):
    return tuple(inspect.signature(getattr(cypool, function)).parameters)


def valid_arguments(spec: Spec) -> dict:
    """Arguments, all by name, of a call of ``spec.function`` that succeeds. Fresh arrays."""
    if spec.family == "threads":
        return {"n_threads": None} if spec.parameters() else {}
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.input_shape)
    grad = rng.standard_normal(spec.output_shape)
    adaptive = spec.family == "adaptive" or spec.function.startswith("Adaptive")
    sizes = ({"output_size": spec.output_spatial} if adaptive
             else {} if spec.family == "global" else {"kernel_size": KERNEL_SIZE})
    if spec.family == "fractional":  # fixed samples, so that backwards can replay the forward
        sizes = {**sizes, "output_size": spec.output_spatial,
                 "_random_samples": rng.random((spec.batch, LEAD[1], spec.n_dims))}
    if spec.family == "layer":
        return {**sizes, "mode": True, "input": x, "grad_output": grad}
    if spec.family == "unpool":
        values, indices = getattr(reference, f"max_pool{spec.n_dims}d")(
            x, KERNEL_SIZE, return_indices=True)
        if spec.backward:
            return {"grad_output": x, "indices": indices}
        return {"input": values, "indices": indices, "kernel_size": KERNEL_SIZE,
                "output_size": SPATIAL[spec.n_dims]}
    if spec.family == "lp":
        window = {"norm_type": 2.0, "kernel_size": KERNEL_SIZE}
        return ({"grad_output": grad, "input": x, **window} if spec.backward
                else {"input": x, **window})
    if not spec.backward:
        return {"input": x, **sizes}
    if spec.kind == "avg":
        return {"grad_output": grad, "input_shape": spec.input_shape,
                **(sizes if spec.family == "pool" else {})}
    forward = spec.function[:-len("_backward")]
    _, indices = getattr(reference, forward)(x, **sizes, return_indices=True)
    return {"grad_output": grad, "indices": indices, "input_shape": spec.input_shape}


def call(spec: Spec, arguments: dict):
    """Call ``spec.function`` with ``arguments``; a layer is made, then run through its steps
    (returns forward's and backward's results)."""
    function = getattr(cypool, spec.function)
    if spec.family != "layer":
        return function(**arguments)
    steps = {name: arguments[name] for name in LAYER_STEPS}
    layer = function(**{name: value for name, value in arguments.items()
                        if name not in LAYER_STEPS})
    layer.train(steps["mode"])
    forward = None if steps["input"] is NOT_CALLED else layer.forward(steps["input"])
    return forward, layer.backward(steps["grad_output"])


def in_canary(shape, dtype=np.float64, layout="C", margin=16):
    """An array of ``shape`` whose memory lies inside a bigger buffer filled with MARKER.

    ``layout``: "C" (C-contiguous), "F" (Fortran order), "strided" (every other element) or
    "unaligned" (C-contiguous, one byte off an element boundary).
    """
    size = math.prod(shape)
    step = 2 if layout == "strided" else 1
    buffer = np.full(step * size + 2 * margin, MARKER, dtype=dtype)
    if layout == "unaligned":
        start = margin * buffer.itemsize + 1
        raw = buffer.view(np.uint8)[start:start + size * buffer.itemsize]
        return raw.view(dtype).reshape(shape)
    return buffer[margin:margin + step * size:step].reshape(
        shape, order="F" if layout == "F" else "C")


def canary_out(spec: Spec, arguments: dict):
    """A valid ``out=`` for the call (a pair for max pooling with indices), in canary buffers."""
    values = in_canary(spec.result_shape)
    if spec.kind == "max" and not spec.backward and arguments.get("return_indices"):
        return values, in_canary(spec.result_shape, arguments.get("index_dtype", np.int64))
    return values


# --------------------------------------------------------------------------------------
# Memory: inputs unchanged, nothing written around out=
# --------------------------------------------------------------------------------------

def arrays_in(values):
    for value in values:
        if isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, (tuple, list)):
            yield from arrays_in(value)


def root_of(array):
    """The array that owns ``array``'s memory (the end of its chain of views)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def address(array):
    return array.__array_interface__["data"][0]


class Memory:
    """A snapshot of every buffer behind the arrays of a call's arguments."""

    def __init__(self, arguments: dict):
        self.roots = {}
        for array in arrays_in(arguments.values()):
            root = root_of(array)
            self.roots[id(root)] = (root, root.tobytes())

    def assert_unchanged(self, except_in=()):
        """Every byte is as it was, except inside the C-contiguous arrays ``except_in``."""
        for root, before in self.roots.values():
            after = root.tobytes()
            for array in except_in:
                if root_of(array) is root:
                    start = address(array) - address(root)
                    stop = start + array.nbytes
                    before = before[:start] + before[stop:]
                    after = after[:start] + after[stop:]
            assert after == before, "memory outside the output was changed"


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

class Build:
    """A bad value that depends on the call: ``function(spec, arguments)`` builds it (and may
    replace other arguments in ``arguments``, e.g. to make them share memory with it)."""

    def __init__(self, function):
        self.function = function


@dataclasses.dataclass(frozen=True)
class Bad:
    argument: str            # the argument spoiled
    label: str               # what is wrong with it (the test id)
    value: object            # the bad value, or a Build
    error: type              # ValueError or TypeError (MemoryError for absurd sizes)
    names: str = ""          # regex the message must match; default: the argument's name
    also: tuple = ()         # (name, value or Build) pairs set first, e.g. return_indices
    only: str = ""           # regex: restrict to the functions whose name it matches
    batch: int = LEAD[0]     # batch size of the valid call it spoils

    def applies_to(self, spec: Spec) -> bool:
        parameters = spec.parameters()
        return (self.argument in parameters
                and all(name in parameters for name, _ in self.also)
                and re.search(self.only, spec.function) is not None)


# Every public function, and every layer class (called through ``call``).
FUNCTIONS = [name for name in cypool.__all__ if name[0].islower()]
LAYERS = [name for name in cypool.__all__ if name[0].isupper()]


WINDOW_POOLING = r"^(max|avg)_pool|^(Max|Avg)Pool"   # the ops with a window (not unpool)


def cases(table):
    return [pytest.param(name, bad, id=f"{name}-{bad.argument}-{bad.label}")
            for bad in table for name in FUNCTIONS + LAYERS if bad.applies_to(Spec(name))]


def prepare(function: str, bad: Bad):
    """(spec, arguments) of the bad call."""
    spec = Spec(function, batch=bad.batch)
    arguments = valid_arguments(spec)
    for name, value in bad.also + ((bad.argument, bad.value),):
        arguments[name] = value.function(spec, arguments) if isinstance(value, Build) \
            else value
    return spec, arguments


def assert_refused(function: str, bad: Bad, may_write=()):
    """The call raises ``bad.error`` naming the argument and changes no memory, except in the
    arguments named in ``may_write`` (an out= whose contents an error leaves undefined)."""
    spec, arguments = prepare(function, bad)
    memory = Memory(arguments)
    threads = cypool.get_num_threads()
    with pytest.raises(bad.error) as raised:
        call(spec, arguments)
    assert cypool.get_num_threads() == threads  # a refused set_num_threads changes nothing
    message = str(raised.value)
    if not isinstance(raised.value, MemoryError):  # that one is NumPy's own message
        assert re.search(bad.names or rf"\b{bad.argument}\b", message), message
    memory.assert_unchanged(except_in=[arguments[name] for name in may_write])


def shaped(shape_of, dtype=np.float64, fill=0.5):
    """A Build for an array whose shape is ``shape_of(spec)``."""
    return Build(lambda spec, arguments: np.full(shape_of(spec), fill, dtype=dtype))


def ragged(spec, arguments):
    return [[0.5, 0.5], [0.5]]


def first_array_name(spec):
    return "grad_output" if spec.backward else "input"


# --------------------------------------------------------------------------------------
# 1. Size arguments: kernel_size, stride, padding, dilation, divisor_override
# --------------------------------------------------------------------------------------

def per_axis(value, last):
    """A per-axis tuple of valid ``value``s whose last entry is ``last``."""
    return Build(lambda spec, arguments: (value,) * (spec.n_dims - 1) + (last,))


def too_many(value):
    return Build(lambda spec, arguments: (value,) * (spec.n_dims + 1))


SIZE_CASES = []
for _argument, _valid in (("kernel_size", 2), ("stride", 1), ("padding", 0), ("dilation", 1)):
    SIZE_CASES += [
        Bad(_argument, "negative", -1, ValueError),
        Bad(_argument, "negative_last_axis", per_axis(_valid, -1), ValueError),
        Bad(_argument, "too_many_values", too_many(_valid), ValueError),
        Bad(_argument, "float", 1.5, TypeError),
        Bad(_argument, "float_in_tuple", per_axis(_valid, 1.0), TypeError),
        Bad(_argument, "string", "1", TypeError),
        Bad(_argument, "bool", True, TypeError),
        Bad(_argument, "array", np.array([_valid, _valid]), TypeError),
        Bad(_argument, "2**63", 2**63, ValueError),
        Bad(_argument, "-2**63", -2**63, ValueError),
        Bad(_argument, "2**64_numpy", np.uint64(2**64 - 1), ValueError),
    ]
    if _argument != "padding":
        SIZE_CASES += [Bad(_argument, "zero", 0, ValueError),
                       Bad(_argument, "zero_last_axis", per_axis(_valid, 0), ValueError)]
    if _argument not in ("stride", "padding"):  # None means "as kernel_size" / zero padding
        SIZE_CASES.append(Bad(_argument, "none", None, TypeError))
    if _argument != "stride":  # an empty stride means "as kernel_size", as in torch
        SIZE_CASES.append(Bad(_argument, "empty", (), ValueError))
SIZE_CASES += [
    # Sizes past a C int: no output fits, or the padding exceeds half the kernel.
    Bad("kernel_size", "2**31", 2**31, ValueError),
    Bad("dilation", "2**31", 2**31, ValueError),
    Bad("padding", "2**31", 2**31, ValueError),
    Bad("padding", "half_kernel_plus_one", 2, ValueError, only=WINDOW_POOLING),
    Bad("padding", "half_kernel_plus_one_last_axis", per_axis(1, 2),
        ValueError, also=(("kernel_size", 3),), only=WINDOW_POOLING),
    Bad("divisor_override", "zero", 0, ValueError),
    Bad("divisor_override", "negative", -3, ValueError),
    Bad("divisor_override", "2**63", 2**63, ValueError),
    Bad("divisor_override", "float", 2.0, TypeError),
    Bad("divisor_override", "bool", True, TypeError),
    Bad("divisor_override", "string", "2", TypeError),
    Bad("divisor_override", "tuple", (2,), TypeError),
]


@pytest.mark.parametrize("function, bad", cases(SIZE_CASES))
def test_bad_size_argument(function, bad):
    assert_refused(function, bad)


@pytest.mark.parametrize("name, cached, look_alike", [
    ("kernel_size", 2, 2.0),
    ("kernel_size", 1, True),
    ("kernel_size", (2, 2), (2.0, 2)),
    ("kernel_size", [2, 2], [2, np.float64(2)]),
    ("stride", 1, np.float32(1)),
    ("padding", 0, False),
    ("dilation", 1, "1"),
    ("ceil_mode", True, 1.0),
])
def test_a_cached_valid_call_does_not_let_a_look_alike_through(name, cached, look_alike):
    """Valid window arguments are cached (pool_geometry); an argument that compares equal to a
    cached one (2.0 == 2, True == 1) must still be checked, not served from the cache."""
    x = np.ones((1, 2, 6, 6), np.float32)
    arguments = {"kernel_size": 2, "stride": None, "padding": 0, "dilation": 1,
                 "ceil_mode": False}
    cypool.max_pool2d(x, **(arguments | {name: cached}))  # valid: now cached
    with pytest.raises(TypeError, match=name):
        cypool.max_pool2d(x, **(arguments | {name: look_alike}))


# --------------------------------------------------------------------------------------
# 2. Geometry: every argument fine alone, the window does not fit the input
# --------------------------------------------------------------------------------------

GEOMETRY_CASES = [
    Bad("kernel_size", "larger_than_input", 9, ValueError, only=WINDOW_POOLING),
    Bad("kernel_size", "larger_on_last_axis", per_axis(2, 9), ValueError, only=WINDOW_POOLING),
    Bad("dilation", "span_larger_than_input", 8, ValueError),
    # Padding lets a huge kernel pass the output-size rule; in 2-d and 3-d its divisor, a
    # product over the axes, would overflow int64.
    Bad("kernel_size", "window_overflows_int64", 2**40, ValueError,
        also=(("padding", 2**39),), only=r"^(max|avg)_pool[23]d|^(Max|Avg)Pool[23]d"),
    # Unpool: the default output size ((L - 1)*stride - 2*padding + kernel_size per axis) is
    # below 1, or its planes are too large for any machine.
    Bad("padding", "default_output_size_below_one", 8, ValueError,
        also=(("output_size", None),), only="unpool"),
    Bad("kernel_size", "default_output_size_too_large", 2**39, ValueError,
        also=(("output_size", None),), only="unpool"),
    Bad("stride", "default_output_size_too_large", per_axis(2, 2**39), ValueError,
        also=(("output_size", None),), only="unpool"),
    # A max window made only of padding: L=1, k=2, dilation 2, padding 1.
    Bad("input", "window_of_padding_only", Build(lambda spec, arguments: np.ones(
        LEAD + (1,) * spec.n_dims)), ValueError, names="padding",
        also=(("stride", 1), ("padding", 1), ("dilation", 2))),
]


@pytest.mark.parametrize("function, bad", cases(GEOMETRY_CASES))
def test_window_that_does_not_fit_the_input(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 2b. output_size: adaptive pooling (an int, or one int or None per axis) and unpool (None, or
#     n or n+2 ints, each within a stride of the default size)
# --------------------------------------------------------------------------------------

OUTPUT_SIZE_CASES = [
    Bad("output_size", label, value, error,
        only="adaptive|Adaptive" if label == "none" else "adaptive|Adaptive|fractional")
    for label, value, error in [
        ("zero", 0, ValueError),
        ("negative", -1, ValueError),
        ("zero_last_axis", per_axis(2, 0), ValueError),
        ("negative_last_axis", per_axis(2, -1), ValueError),
        ("too_many_values", too_many(2), ValueError),
        ("empty", (), ValueError),
        ("float", 1.5, TypeError),
        ("float_in_tuple", per_axis(2, 1.0), TypeError),
        ("string", "2", TypeError),
        ("string_in_tuple", per_axis(2, "2"), TypeError),
        ("bool", True, TypeError),
        ("bool_in_tuple", per_axis(None, True), TypeError),
        ("array", np.array([2, 2]), TypeError),
        ("none", None, TypeError),
        ("2**63", 2**63, ValueError),
        ("-2**63", -2**63, ValueError),
        ("2**64_numpy", np.uint64(2**64 - 1), ValueError),
        ("2**41_last_axis", per_axis(2, 2**41), ValueError),
    ]
]
# Fractional pooling: None asks for output_ratio; out + kernel_size - 1 must fit the input.
OUTPUT_SIZE_CASES += [
    Bad("output_size", "none_without_output_ratio", None, ValueError, only="fractional"),
    Bad("output_size", "too_large_for_input", per_axis(2, 7), ValueError, only="fractional"),
    Bad("kernel_size", "too_large_for_output_size", 9, ValueError, only="fractional"),
]
# Planes too large for any machine: one axis below the per-axis limit, their product far above.
OUTPUT_SIZE_CASES += [
    Bad("output_size", "2**31_per_axis", 2**31, ValueError, only="^adaptive_.*[23]d$"),
    Bad("output_size", "2**21_per_axis", 2**21, ValueError, only="^adaptive_.*3d$"),
]


def unpool_default(spec):
    """Unpool's output size without output_size: (L - 1)*stride + kernel_size per axis."""
    return tuple(KERNEL_SIZE * n for n in spec.output_spatial)


def unpool_size(last):
    """An unpool output_size: the valid call's, with the last axis ``last(default, valid)``."""
    return Build(lambda spec, arguments: SPATIAL[spec.n_dims][:-1] + (
        last(unpool_default(spec)[-1], SPATIAL[spec.n_dims][-1]),))


OUTPUT_SIZE_CASES += [
    Bad("output_size", label, value, error, only="unpool") for label, value, error in [
        ("int", 8, TypeError),
        ("string", "8", TypeError),
        ("array", Build(lambda spec, arguments: np.array(SPATIAL[spec.n_dims])), TypeError),
        ("none_in_tuple", unpool_size(lambda default, valid: None), TypeError),
        ("float_in_tuple", unpool_size(lambda default, valid: float(valid)), TypeError),
        ("bool_in_tuple", unpool_size(lambda default, valid: True), TypeError),
        ("too_many_values", Build(lambda spec, arguments: SPATIAL[spec.n_dims] + (8,)),
         ValueError),
        ("empty", (), ValueError),
        ("default_plus_stride", unpool_size(lambda default, valid: default + KERNEL_SIZE),
         ValueError),
        ("default_minus_stride", unpool_size(lambda default, valid: default - KERNEL_SIZE),
         ValueError),
        ("default_plus_stride_with_batch_and_channels", Build(lambda spec, arguments: LEAD
         + unpool_size(lambda default, valid: default + KERNEL_SIZE).function(spec, arguments)),
         ValueError),
        ("zero", unpool_size(lambda default, valid: 0), ValueError),
        ("negative", unpool_size(lambda default, valid: -1), ValueError),
        ("2**63", unpool_size(lambda default, valid: 2**63), ValueError),
    ]
]
# In range, but a plane too small for the indices (each names the plane's last element).
OUTPUT_SIZE_CASES.append(Bad(
    "output_size", "too_small_for_the_indices", unpool_size(lambda default, valid: valid - 1),
    ValueError, names="indices", only="unpool", also=(("indices", Build(
        lambda spec, arguments: np.full(spec.output_shape,
                                        math.prod(SPATIAL[spec.n_dims]) - 1))),)))


@pytest.mark.parametrize("function, bad", cases(OUTPUT_SIZE_CASES))
def test_bad_output_size(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 3. Flags and options: ceil_mode, return_indices, count_include_pad, index_dtype, n_threads
# --------------------------------------------------------------------------------------

OPTION_CASES = []
for _flag in ("ceil_mode", "return_indices", "count_include_pad", "reuse_buffers", "mode"):
    OPTION_CASES += [Bad(_flag, "string", "yes", TypeError),
                     Bad(_flag, "none", None, TypeError),
                     Bad(_flag, "two", 2, TypeError),
                     Bad(_flag, "float", 1.0, TypeError)]
OPTION_CASES += [
    Bad("index_dtype", "float32", np.float32, TypeError),
    Bad("index_dtype", "int16", np.int16, TypeError),
    Bad("index_dtype", "uint64", np.uint64, TypeError),
    Bad("index_dtype", "bool", bool, TypeError),
    Bad("index_dtype", "none", None, TypeError),
    Bad("index_dtype", "not_a_dtype", "x", TypeError),
    Bad("n_threads", "zero", 0, ValueError),
    Bad("n_threads", "negative", -1, ValueError),
    Bad("n_threads", "-2**63", -2**63, ValueError),
    Bad("n_threads", "float", 2.0, TypeError),
    Bad("n_threads", "string", "2", TypeError),
    Bad("n_threads", "bool", True, TypeError),
    # Checked even when there is nothing to compute.
    Bad("n_threads", "zero_with_empty_batch", 0, ValueError, batch=0),
    Bad("n_threads", "string_with_empty_batch", "2", TypeError, batch=0),
]


@pytest.mark.parametrize("function, bad", cases(OPTION_CASES))
def test_bad_option(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 4. The array: input (forwards) or grad_output (backwards)
# --------------------------------------------------------------------------------------



def array_cases(argument):
    def lead_spatial(lead, spatial):
        return lambda spec: lead + (spatial,) * spec.n_dims

    def shape_of(spec):
        return spec.array_shape(argument)

    # Max pooling forward and unpooling take integers; the others refuse them. Every op takes
    # float16.
    not_max_forward = r"^(?!max_pool\dd$|MaxPool|max_unpool\dd$)" if argument == "input" else ""
    return [
        Bad(argument, "int32", shaped(shape_of, np.int32, 1), TypeError, only=not_max_forward),
        Bad(argument, "int64", shaped(shape_of, np.int64, 1), TypeError, only=not_max_forward),
        Bad(argument, "uint64", shaped(shape_of, np.uint64, 1), TypeError),
        Bad(argument, "bool", shaped(shape_of, np.bool_, True), TypeError),
        Bad(argument, "complex128", shaped(shape_of, np.complex128), TypeError),
        Bad(argument, "object", shaped(shape_of, object), TypeError),
        Bad(argument, "strings", shaped(shape_of, "U3", "abc"), TypeError),
        Bad(argument, "none", None, TypeError),
        Bad(argument, "ragged_list", Build(ragged), ValueError),
        Bad(argument, "scalar", 1.0, ValueError),
        Bad(argument, "spatial_axes_only", Build(
            lambda spec, arguments: np.ones(shape_of(spec)[2:])), ValueError),
        Bad(argument, "one_axis_too_many", Build(
            lambda spec, arguments: np.ones((1,) + shape_of(spec))), ValueError),
        Bad(argument, "zero_channels", shaped(lead_spatial((2, 0), 4)), ValueError),
        Bad(argument, "zero_channels_unbatched", shaped(lead_spatial((0,), 4)), ValueError),
        Bad(argument, "zero_spatial", Build(lambda spec, arguments: np.ones(
            shape_of(spec)[:-1] + (0,))), ValueError),
    ]


ARRAY_CASES = array_cases("input") + array_cases("grad_output")


@pytest.mark.parametrize("function, bad", cases(ARRAY_CASES))
def test_bad_array(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 5. input_shape (backwards): malformed, or inconsistent with grad_output
# --------------------------------------------------------------------------------------

def changed_shape(change):
    return Build(lambda spec, arguments: change(spec.input_shape))


INPUT_SHAPE_CASES = [
    Bad("input_shape", "int", 8, TypeError),
    Bad("input_shape", "none", None, TypeError),
    Bad("input_shape", "string", "2388", TypeError),
    Bad("input_shape", "float_size", changed_shape(lambda s: s[:-1] + (8.0,)), TypeError),
    Bad("input_shape", "one_axis_too_many", changed_shape(lambda s: s + (3,)), ValueError),
    Bad("input_shape", "one_axis_too_few", changed_shape(lambda s: s[1:]), ValueError),
    Bad("input_shape", "negative_size", changed_shape(lambda s: s[:-1] + (-8,)), ValueError),
    Bad("input_shape", "zero_spatial", changed_shape(lambda s: s[:-1] + (0,)), ValueError),
    Bad("input_shape", "zero_channels", changed_shape(lambda s: s[:1] + (0,) + s[2:]),
        ValueError, names="input_shape|grad_output"),
    Bad("input_shape", "2**31_per_axis", changed_shape(
        lambda s: s[:2] + (2**31,) * (len(s) - 2)), ValueError, names="input_shape|kernel",
        only="[23]d"),
    # A plane of 2**50 elements is a legal shape that no machine can allocate (max backward
    # cannot tell it from the indices before allocating the gradient): MemoryError is fine.
    Bad("input_shape", "2**50", changed_shape(lambda s: s[:2] + (2**50,)),
        (ValueError, MemoryError), names="input_shape|grad_output", only="1d"),
    Bad("input_shape", "2**63", changed_shape(lambda s: s[:-1] + (2**63,)), ValueError,
        names="input_shape|kernel"),
    Bad("input_shape", "other_batch", changed_shape(lambda s: (s[0] + 1,) + s[1:]),
        ValueError, names="input_shape|grad_output"),
    Bad("input_shape", "other_channels", changed_shape(lambda s: s[:1] + (s[1] + 1,) + s[2:]),
        ValueError, names="input_shape|grad_output"),
    # Avg: grad_output is not the pooled shape. Max: a plane smaller than the indices say.
    # (Adaptive and global average pooling take any input size.)
    Bad("input_shape", "smaller_spatial", changed_shape(
        lambda s: s[:2] + (1,) * (len(s) - 2)), ValueError,
        names="input_shape|grad_output|indices|kernel_size", only="max|^avg_pool"),
    Bad("input_shape", "larger_spatial", changed_shape(lambda s: s[:-1] + (s[-1] + 2,)),
        ValueError, names="input_shape|grad_output", only="^avg"),
]


@pytest.mark.parametrize("function, bad", cases(INPUT_SHAPE_CASES))
def test_bad_input_shape(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 6. indices (max backwards): out of the plane, wrong dtype, wrong shape
# --------------------------------------------------------------------------------------

def index_fill(value, dtype=np.int64, order="C"):
    return Build(lambda spec, arguments: np.full(spec.output_shape, value, dtype=dtype,
                                                 order=order))


def plane_size(spec):
    return math.prod(SPATIAL[spec.n_dims])


def one_bad_index_in_the_last_plane(spec, arguments):
    indices = arguments["indices"].copy()
    indices.reshape(-1)[-1] = plane_size(spec)
    return indices


# Every case also passes out= in a canary buffer: an error may leave the gradient half-written,
# nothing else. Indices equal to the plane size everywhere point, in the last plane, past the
# whole output (into the marker); -1 in the first plane points before it.
OUT_IN_CANARY = (("out", Build(lambda spec, arguments: in_canary(spec.result_shape))),)

INDEX_CASES = [
    Bad("indices", label, value, error, also=OUT_IN_CANARY) for label, value, error in [
        ("plane_size", Build(lambda spec, arguments: np.full(spec.output_shape,
                                                             plane_size(spec))), ValueError),
        ("minus_one", index_fill(-1), ValueError),
        ("minus_one_fortran_order", index_fill(-1, order="F"), ValueError),
        ("minus_one_int8", index_fill(-1, np.int8), ValueError),
        ("minus_one_int32", index_fill(-1, np.int32), ValueError),
        ("int64_min", index_fill(np.iinfo(np.int64).min), ValueError),
        ("int64_max", index_fill(np.iinfo(np.int64).max), ValueError),
        ("int32_max", index_fill(np.iinfo(np.int32).max, np.int32), ValueError),
        ("uint32_max", index_fill(np.iinfo(np.uint32).max, np.uint32), ValueError),
        # Wraps to -1 when converted to int64: still caught.
        ("uint64_max", index_fill(np.iinfo(np.uint64).max, np.uint64), ValueError),
        ("one_bad_in_the_last_plane", Build(one_bad_index_in_the_last_plane), ValueError),
        ("float64", index_fill(0.0, np.float64), TypeError),
        ("bool", index_fill(False, np.bool_), TypeError),
        ("object", index_fill(0, object), TypeError),
        ("none", None, TypeError),
        ("ragged_list", Build(ragged), ValueError),
        ("last_axis_shorter", Build(lambda spec, arguments: np.zeros(
            spec.output_shape[:-1] + (spec.output_shape[-1] - 1,), np.int64)), ValueError),
        ("one_axis_too_many", Build(lambda spec, arguments: np.zeros(
            (1,) + spec.output_shape, np.int64)), ValueError),
        ("scalar", 0, ValueError),
    ]
]


# Unpool's backward gathers through indices of any spatial shape: a shorter axis is valid there.
INDEX_CASES = [dataclasses.replace(bad, only=r"^(?!max_unpool\dd_backward$)")
               if bad.label == "last_axis_shorter" else bad for bad in INDEX_CASES]


@pytest.mark.parametrize("function, bad", cases(INDEX_CASES))
def test_bad_indices(function, bad):
    assert_refused(function, bad, may_write=["out"])


# --------------------------------------------------------------------------------------
# 7. out=: type, shape, dtype, layout, writeability, overlap with the inputs
# --------------------------------------------------------------------------------------

def result(change_shape=lambda shape: shape, dtype=None, layout="C", readonly=False):
    """A Build for an out= array like the call's result, changed as the arguments say."""
    def build(spec, arguments):
        index_pair = spec.kind == "max" and not spec.backward and arguments.get(
            "return_indices")
        array = in_canary(change_shape(spec.result_shape), dtype or np.float64, layout)
        array.flags.writeable = not readonly
        if index_pair:
            return array, in_canary(spec.result_shape, np.int64)
        return array
    return Build(build)


def overlapping(first_array_offset):
    """An out= sharing memory with the call's first array argument (input or grad_output):
    both are views of one buffer, out starting ``first_array_offset`` elements later."""
    def build(spec, arguments):
        name = first_array_name(spec)
        first = arguments[name]
        out_size = math.prod(spec.result_shape)
        buffer = np.zeros(max(first.size, out_size + first_array_offset))
        arguments[name] = buffer[:first.size].reshape(first.shape)
        arguments[name][...] = first
        return buffer[first_array_offset:first_array_offset + out_size].reshape(
            spec.result_shape)
    return Build(build)


def out_over_indices(spec, arguments):
    """An out= of float64 sharing memory with int64 indices."""
    buffer = np.zeros(math.prod(spec.result_shape) + arguments["indices"].size)
    indices = buffer.view(np.int64)[-arguments["indices"].size:]
    indices[...] = arguments["indices"].ravel()
    arguments["indices"] = indices.reshape(arguments["indices"].shape)
    return buffer[:math.prod(spec.result_shape) + 1][1:].reshape(spec.result_shape)


def pair(values, indices):
    """A Build for a (values, indices) out= pair of max pooling with indices."""
    def build(spec, arguments):
        shape = spec.result_shape
        return (values(spec, arguments, shape) if callable(values) else values,
                indices(spec, arguments, shape) if callable(indices) else indices)
    return Build(build)


def good_values(spec, arguments, shape):
    return in_canary(shape)


def good_indices(spec, arguments, shape):
    return in_canary(shape, np.int64)


def overlapping_pair(spec, arguments):
    """Values and indices that share half of their memory."""
    shape = spec.result_shape
    buffer = in_canary((2 * math.prod(shape),))
    values = buffer[:math.prod(shape)].reshape(shape)
    indices = buffer.view(np.int64)[math.prod(shape) // 2:][:math.prod(shape)].reshape(shape)
    return values, indices


def indices_over_input(spec, arguments):
    """Indices that share memory with the input."""
    shape = spec.result_shape
    indices = arguments["input"].reshape(-1).view(np.int64)[:math.prod(shape)].reshape(shape)
    return in_canary(shape), indices


WITH_INDICES = (("return_indices", True),)

OUT_CASES = [
    Bad("out", "list", Build(lambda spec, arguments: result().function(
        spec, arguments).tolist()), TypeError),
    Bad("out", "memoryview", Build(lambda spec, arguments: memoryview(result().function(
        spec, arguments))), TypeError),
    Bad("out", "last_axis_longer", result(lambda s: s[:-1] + (s[-1] + 1,)), ValueError),
    Bad("out", "last_axis_shorter", result(lambda s: s[:-1] + (s[-1] - 1,)), ValueError),
    Bad("out", "one_axis_too_many", result(lambda s: (1,) + s), ValueError),
    Bad("out", "flat", result(lambda s: (math.prod(s),)), ValueError),
    Bad("out", "float32", result(dtype=np.float32), TypeError),
    Bad("out", "int64", result(dtype=np.int64), TypeError),
    Bad("out", "byteswapped", result(dtype=np.dtype(">f8")), TypeError),
    Bad("out", "fortran_order", result(layout="F"), ValueError),
    Bad("out", "strided", result(layout="strided"), ValueError),
    Bad("out", "unaligned", result(layout="unaligned"), ValueError),
    Bad("out", "read_only", result(readonly=True), ValueError),
    Bad("out", "is_the_input", overlapping(0), ValueError),
    Bad("out", "overlaps_the_input_by_one", overlapping(1), ValueError),
    Bad("out", "overlaps_the_indices", Build(out_over_indices), ValueError,
        only=r"max_pool\dd_backward$|unpool"),
    # Max pooling with indices takes a (values, indices) pair.
    Bad("out", "single_array_with_indices", Build(lambda spec, arguments: in_canary(
        spec.result_shape)), TypeError, also=WITH_INDICES),
    Bad("out", "three_arrays_with_indices", Build(lambda spec, arguments: (
        in_canary(spec.result_shape), in_canary(spec.result_shape, np.int64),
        in_canary(spec.result_shape, np.int64))), TypeError, also=WITH_INDICES),
    Bad("out", "indices_float64", pair(good_values, good_values), TypeError,
        also=WITH_INDICES),
    Bad("out", "indices_int32_for_int64", pair(good_values, lambda spec, arguments, shape:
        in_canary(shape, np.int32)), TypeError, also=WITH_INDICES),
    Bad("out", "indices_int64_for_int32", pair(good_values, good_indices), TypeError,
        also=WITH_INDICES + (("index_dtype", np.int32),)),
    Bad("out", "indices_wrong_shape", pair(good_values, lambda spec, arguments, shape:
        in_canary(shape[:-1] + (shape[-1] + 1,), np.int64)), ValueError, also=WITH_INDICES),
    Bad("out", "indices_fortran_order", pair(good_values, lambda spec, arguments, shape:
        in_canary(shape, np.int64, "F")), ValueError, also=WITH_INDICES),
    Bad("out", "indices_unaligned", pair(good_values, lambda spec, arguments, shape:
        in_canary(shape, np.int64, "unaligned")), ValueError, also=WITH_INDICES),
    Bad("out", "values_wrong_shape", pair(lambda spec, arguments, shape: in_canary(
        shape[:-1] + (shape[-1] + 1,)), good_indices), ValueError, also=WITH_INDICES),
    Bad("out", "indices_overlap_values", Build(overlapping_pair), ValueError,
        also=WITH_INDICES),
    Bad("out", "indices_overlap_input", Build(indices_over_input), ValueError,
        also=WITH_INDICES),
]


@pytest.mark.parametrize("function, bad", cases(OUT_CASES))
def test_bad_out(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# 8. Layers: the steps out of order, a gradient that is not the last forward's
# --------------------------------------------------------------------------------------

LAYER_CASES = [
    Bad("input", "backward_without_forward", NOT_CALLED, RuntimeError, names="forward",
        only="^[A-Z]"),
    Bad("mode", "eval_mode_forward", False, RuntimeError, names="training mode"),
    Bad("grad_output", "last_axis_longer", shaped(lambda spec: spec.output_shape[:-1] + (
        spec.output_shape[-1] + 1,)), ValueError, only="^[A-Z]"),
    Bad("grad_output", "other_batch", shaped(lambda spec: (spec.batch + 1,)
                                             + spec.output_shape[1:]), ValueError,
        only="^[A-Z]"),
]


@pytest.mark.parametrize("function, bad", cases(LAYER_CASES))
def test_bad_layer_call(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# The tables are complete, and their valid calls pass
# --------------------------------------------------------------------------------------

NORM_CASES = [  # lp_pool's power
    Bad("norm_type", "zero", 0, ValueError),
    Bad("norm_type", "nan", float("nan"), ValueError),
    Bad("norm_type", "string", "2", TypeError),
    Bad("norm_type", "bool", True, TypeError),
    Bad("norm_type", "none", None, TypeError),
]

@pytest.mark.parametrize("function, bad", cases(NORM_CASES))
def test_bad_norm_type(function, bad):
    assert_refused(function, bad)


# --------------------------------------------------------------------------------------
# Fractional pooling: output_ratio, _random_samples, random_state
# --------------------------------------------------------------------------------------

WITHOUT_OUTPUT_SIZE = (("output_size", None),)
RATIO_CASES = [
    Bad("output_ratio", label, value, error, also=WITHOUT_OUTPUT_SIZE)
    for label, value, error in [
        ("none_without_output_size", None, ValueError),
        ("zero", 0.0, ValueError),
        ("negative", -0.5, ValueError),
        ("nan", float("nan"), ValueError),
        ("inf", float("inf"), ValueError),
        ("above_one", 1.5, ValueError),
        ("output_below_one", 0.01, ValueError),         # int(L * 0.01) == 0
        ("output_too_large_for_kernel", 1.0, ValueError),  # L + kernel_size - 1 > L
        ("too_many_values", too_many(0.5), ValueError),
        ("string", "0.5", TypeError),
        ("string_in_tuple", per_axis(0.5, "0.5"), TypeError),
        ("bool", True, TypeError),
        ("complex", 0.5j, TypeError),
    ]
]


def samples_shaped(change, dtype=np.float64, fill=0.5):
    """A Build for samples of the valid call's shape (batch, C, n_dims), changed by ``change``."""
    return shaped(lambda spec: change((spec.batch, LEAD[1], spec.n_dims)), dtype, fill)


WITHOUT_SAMPLES = (("_random_samples", None),)
SAMPLE_CASES = [
    Bad("_random_samples", label, value, error) for label, value, error in [
        ("float32_for_float64_input", samples_shaped(lambda s: s, np.float32), TypeError),
        ("int64", samples_shaped(lambda s: s, np.int64, 0), TypeError),
        ("strings", samples_shaped(lambda s: s, "U3", "abc"), TypeError),
        ("object", samples_shaped(lambda s: s, object), TypeError),
        ("ragged_list", Build(ragged), ValueError),
        ("too_few_rows", samples_shaped(lambda s: (s[0] - 1,) + s[1:]), ValueError),
        ("other_channels", samples_shaped(lambda s: (s[0], s[1] + 1, s[2])), ValueError),
        ("one_sample_too_many", samples_shaped(lambda s: s[:2] + (s[2] + 1,)), ValueError),
        ("two_axes", samples_shaped(lambda s: (s[0] * s[1], s[2])), ValueError),
        ("one", samples_shaped(lambda s: s, fill=1.0), ValueError),
        ("negative", samples_shaped(lambda s: s, fill=-0.25), ValueError),
        ("nan", samples_shaped(lambda s: s, fill=np.nan), ValueError),
    ]
] + [
    Bad("random_state", label, value, error, also=WITHOUT_SAMPLES)
    for label, value, error in [
        ("float", 1.5, TypeError),
        ("string", "0", TypeError),
        ("bool", True, TypeError),
        ("legacy_random_state", np.random.RandomState(0), TypeError),
        ("negative", -1, ValueError),
    ]
] + [Bad("random_state", "with_random_samples", 0, ValueError)]


@pytest.mark.parametrize("function, bad", cases(RATIO_CASES + SAMPLE_CASES))
def test_bad_fractional_argument(function, bad):
    assert_refused(function, bad)


ALL_TABLES = (NORM_CASES + SIZE_CASES + GEOMETRY_CASES + OUTPUT_SIZE_CASES + OPTION_CASES + ARRAY_CASES
              + INPUT_SHAPE_CASES + INDEX_CASES + OUT_CASES + LAYER_CASES + RATIO_CASES
              + SAMPLE_CASES)


@pytest.mark.parametrize("function", FUNCTIONS + LAYERS)
def test_every_argument_is_covered(function):
    spec = Spec(function)
    covered = {bad.argument for bad in ALL_TABLES if bad.applies_to(spec)}
    assert covered == set(spec.parameters()), set(spec.parameters()) - covered


def function_of(layer):
    """The function a layer calls: ``AdaptiveMaxPool2d`` -> ``adaptive_max_pool2d``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", layer).lower()


@pytest.mark.parametrize("function", FUNCTIONS + LAYERS)
def test_the_valid_calls_pass(function):
    """Each table spoils one of these calls: they must succeed and agree with the reference,
    or the errors would not be about the spoiled argument."""
    spec = Spec(function)
    arguments = valid_arguments(spec)
    result = call(spec, arguments)
    if spec.family == "threads":
        assert result is None if spec.parameters() else result >= 1
    elif spec.family == "layer":  # forward and backward of the same input and gradient
        for name, got in zip((function_of(function), function_of(function) + "_backward"),
                             result):
            expected = getattr(reference, name)(**valid_arguments(Spec(name)))
            np.testing.assert_array_equal(got, expected)
    elif hasattr(reference, function):
        np.testing.assert_array_equal(result, getattr(reference, function)(**arguments))
    else:  # no reference (lp and unpool backwards have tests of their own): it succeeds
        assert result.shape == spec.result_shape


BORDER_WINDOW = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}


def border_window(spec, arguments):
    """Padding, and a last window that ceil mode adds."""
    arguments.update(BORDER_WINDOW)
    if spec.kind == "avg" and spec.backward:
        pooled = getattr(reference, f"avg_pool{spec.n_dims}d")(np.zeros(spec.input_shape),
                                                                 **BORDER_WINDOW)
        arguments["grad_output"] = np.random.default_rng(1).standard_normal(pooled.shape)


def overlapping_adaptive_windows(spec, arguments):
    """An adaptive output longer than the input on the last axis (windows overlap), None
    entries keeping the other axes."""
    longer = SPATIAL[spec.n_dims][-1] + 3
    if spec.backward:
        arguments["grad_output"] = np.random.default_rng(1).standard_normal(
            spec.input_shape[:-1] + (longer,))
    else:
        arguments["output_size"] = (None,) * (spec.n_dims - 1) + (longer,)


def repeated_indices(spec, arguments):
    """Every index names the plane's first element: gradients add up there, unpool keeps the
    last value."""
    arguments["indices"] = np.zeros_like(arguments["indices"])


VARIATIONS = [  # (label, the functions it applies to, change of the valid call)
    ("valid_call", "", lambda spec, arguments: None),
    ("k3s2p1ceil", r"^(max|avg)_pool\dd$|^avg_pool\dd_backward$", border_window),
    ("overlapping_windows", r"^adaptive_(max|avg)_pool\dd$|^adaptive_avg_pool\dd_backward$",
     overlapping_adaptive_windows),
    ("repeated_indices", r"max_pool\dd_backward$|unpool", repeated_indices),
]


@pytest.mark.parametrize("function, change", [
    pytest.param(name, change, id=f"{name}-{label}")
    for name in FUNCTIONS for label, only, change in VARIATIONS
    if "out" in Spec(name).parameters() and re.search(only, name)
])
def test_valid_out_is_written_and_nothing_around_it(function, change):
    spec = Spec(function)
    arguments = valid_arguments(spec)
    change(spec, arguments)
    if "return_indices" in spec.parameters():
        arguments["return_indices"] = True
    expected = getattr(cypool, function)(**arguments)
    out = tuple(in_canary(e.shape, e.dtype) for e in arrays_in([expected]))
    arguments["out"] = out if isinstance(expected, tuple) else out[0]
    memory = Memory(arguments)
    returned = getattr(cypool, function)(**arguments)
    memory.assert_unchanged(except_in=out)
    assert all(r is o for r, o in zip(arrays_in([returned]), out))
    for written, want in zip(out, arrays_in([expected])):
        np.testing.assert_array_equal(written, want)
