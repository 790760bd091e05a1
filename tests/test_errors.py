"""Bad arguments: each raises ValueError (bad values, shapes, sizes) or TypeError (bad types,
dtypes) with a message naming the argument, and leaves every input array as it was."""

import re

import numpy as np
import pytest

import cypool


class Fresh:
    """An argument built anew for each test (so no test can see another's writes)."""

    def __init__(self, factory):
        self.factory = factory


def array(shape, dtype=np.float64, fill=0.5, readonly=False):
    def factory():
        result = np.full(shape, fill, dtype=dtype)
        result.flags.writeable = not readonly
        return result
    return Fresh(factory)


def object_array(shape):
    def factory():
        result = np.empty(shape, dtype=object)
        result[...] = 1.0
        return result
    return Fresh(factory)


X1, X2, X3 = array((2, 3, 8)), array((2, 3, 6, 7)), array((1, 2, 4, 5, 6))
X = {1: X1, 2: X2, 3: X3}
OUT_SHAPE = {1: (2, 3, 4), 2: (2, 3, 3, 3), 3: (1, 2, 2, 2, 3)}   # for kernel_size=2


def case(function, *args, error, name, **kwargs):
    """A call ``cypool.<function>(*args, **kwargs)`` that must raise ``error`` whose message
    matches the regular expression ``name``."""
    label = f"{function}-{name}-" + "-".join(
        f"{k}={v!r}" for k, v in kwargs.items() if not isinstance(v, Fresh))
    return pytest.param(function, args, kwargs, error, name, id=label[:90])


def forward_cases():
    cases = []
    for n_dims in (1, 2, 3):
        x = X[n_dims]
        for kind in ("max", "avg"):
            f = f"{kind}_pool{n_dims}d"
            cases += [
                case(f, x, 0, error=ValueError, name="kernel_size"),
                case(f, x, -1, error=ValueError, name="kernel_size"),
                case(f, x, (2,) * (n_dims - 1) + (0,), error=ValueError, name="kernel_size"),
                case(f, x, 2, 0, error=ValueError, name="stride"),
                case(f, x, 2, (1,) * (n_dims - 1) + (-2,), error=ValueError, name="stride"),
                case(f, x, 2, 1, -1, error=ValueError, name="padding"),
                case(f, x, 3, 1, 2, error=ValueError, name="padding"),
                case(f, x, 2, 1, 2, error=ValueError, name="padding"),
                case(f, x, (3,) * n_dims, 1, (1,) * (n_dims - 1) + (2,),
                     error=ValueError, name="padding"),
                case(f, x, (2,) * (n_dims + 1), error=ValueError, name="kernel_size"),
                case(f, x, 2, (1,) * (n_dims + 1), error=ValueError, name="stride"),
                # (torch also takes 1-tuples for 2-d and 3-d: not tested as errors.)
                case(f, x, 2, 1, (0,) * (n_dims + 1), error=ValueError, name="padding"),
                case(f, x, 2.5, error=TypeError, name="kernel_size"),
                case(f, x, "2", error=TypeError, name="kernel_size"),
                case(f, x, None, error=TypeError, name="kernel_size"),
                case(f, x, 2, (1.5,) * n_dims, error=TypeError, name="stride"),
                case(f, x, 2, 1, 0.5, error=TypeError, name="padding"),
                # Output size < 1: a kernel bigger than the (padded) input.
                case(f, x, 9, error=ValueError, name="(?i)output|kernel_size|input"),
                # Wrong number of dimensions.
                case(f, array((2, 3) + (5,) * (n_dims + 1)), 2, error=ValueError, name="input"),
                case(f, array((5,) * n_dims), 2, error=ValueError, name="input"),
                case(f, array(()), 2, error=ValueError, name="input"),
                # Empty spatial size, no channels.
                case(f, array((2, 3) + (0,) + (5,) * (n_dims - 1)), 1, error=ValueError,
                     name="input"),
                case(f, array((2, 0) + (5,) * n_dims), 2, error=ValueError, name="input"),
                case(f, array((0,) + (5,) * n_dims), 2, error=ValueError, name="input"),
                # Unsupported dtypes.
                case(f, array((2, 3) + (4,) * n_dims, np.uint64, 1), 2, error=TypeError,
                     name="input"),
                case(f, array((2, 3) + (4,) * n_dims, np.complex128), 2, error=TypeError,
                     name="input"),
                case(f, array((2, 3) + (4,) * n_dims, np.bool_, True), 2, error=TypeError,
                     name="input"),
                case(f, array((2, 3) + (4,) * n_dims, np.float16), 2, error=TypeError,
                     name="input"),
                case(f, object_array((2, 3) + (4,) * n_dims), 2, error=TypeError,
                     name="input"),
                # out=.
                case(f, x, 2, out=array(OUT_SHAPE[n_dims][:-1] + (5,)), error=ValueError,
                     name="out"),
                case(f, x, 2, out=array(OUT_SHAPE[n_dims], np.float32), error=TypeError,
                     name="out"),
                case(f, x, 2, out=array(OUT_SHAPE[n_dims], readonly=True), error=ValueError,
                     name="out"),
            ]
            if kind == "max":
                out_shape = OUT_SHAPE[n_dims]
                cases += [
                    case(f, x, 2, 1, 0, 0, error=ValueError, name="dilation"),
                    case(f, x, 2, 1, 0, (1,) * (n_dims + 1), error=ValueError,
                         name="dilation"),
                    case(f, x, 2, 1, 0, 1.5, error=TypeError, name="dilation"),
                    case(f, x, 2, return_indices=True, out=array(out_shape),
                         error=TypeError, name="out"),
                    case(f, x, 2, return_indices=True,
                         out=(array(out_shape), array(out_shape)), error=TypeError,
                         name="out"),
                    case(f, x, 2, return_indices=True,
                         out=(array(out_shape), array(out_shape[:-1] + (1,), np.int64)),
                         error=ValueError, name="out"),
                    case(f, x, 2, return_indices=True,
                         out=(array(out_shape), array(out_shape, np.int64, readonly=True)),
                         error=ValueError, name="out"),
                    # A window made only of padding: L=1, k=2, dilation 2, padding 1.
                    case(f, array((1, 2) + (1,) * n_dims), 2, 1, 1, 2, error=ValueError,
                         name="(?i)padding"),
                ]
            else:
                cases += [
                    case(f, x, 2, divisor_override=0, error=ValueError,
                         name="divisor_override"),
                    case(f, x, 2, divisor_override=1.5, error=TypeError,
                         name="divisor_override"),
                ]
    return cases


def backward_cases():
    cases = []
    for n_dims in (1, 2, 3):
        input_shape = X[n_dims].factory().shape
        out_shape = OUT_SHAPE[n_dims]
        plane_size = int(np.prod(input_shape[2:]))
        grad = array(out_shape, fill=1.0)
        indices = array(out_shape, np.int64, 0)
        f = f"max_pool{n_dims}d_backward"
        other_shape = out_shape[:-1] + (out_shape[-1] + 1,)
        cases += [
            case(f, array(other_shape), indices, input_shape, error=ValueError,
                 name="grad_output|indices"),
            case(f, grad, array(out_shape, np.float64, 0), input_shape, error=TypeError,
                 name="indices"),
            case(f, grad, array(out_shape, np.int64, plane_size), input_shape,
                 error=ValueError, name="indices"),
            case(f, grad, array(out_shape, np.int64, -1), input_shape, error=ValueError,
                 name="indices"),
            case(f, grad, indices, (input_shape[0] + 1,) + input_shape[1:], error=ValueError,
                 name="input_shape|grad_output"),
            case(f, grad, indices, (input_shape[0], input_shape[1] + 1) + input_shape[2:],
                 error=ValueError, name="input_shape|grad_output"),
            case(f, grad, indices, input_shape + (3,), error=ValueError, name="input_shape"),
            case(f, grad, indices, input_shape[:2] + (-1,) + input_shape[3:],
                 error=ValueError, name="input_shape"),
            case(f, array(out_shape, np.int32, 1), indices, input_shape, error=TypeError,
                 name="grad_output"),
            case(f, grad, indices, input_shape, out=array(input_shape[:-1] + (1,)),
                 error=ValueError, name="out"),
            case(f, grad, indices, input_shape, out=array(input_shape, np.float32),
                 error=TypeError, name="out"),
            case(f, grad, indices, input_shape, out=array(input_shape, readonly=True),
                 error=ValueError, name="out"),
        ]
        f = f"avg_pool{n_dims}d_backward"
        cases += [
            case(f, array(other_shape), input_shape, 2, error=ValueError,
                 name="input_shape|grad_output"),
            case(f, grad, (input_shape[0] + 1,) + input_shape[1:], 2, error=ValueError,
                 name="input_shape|grad_output"),
            case(f, grad, input_shape + (3,), 2, error=ValueError, name="input_shape"),
            case(f, grad, input_shape, 0, error=ValueError, name="kernel_size"),
            case(f, grad, input_shape, 2, 0, error=ValueError, name="stride"),
            case(f, grad, input_shape, 2, 2, 2, error=ValueError, name="padding"),
            case(f, grad, input_shape, 2.5, error=TypeError, name="kernel_size"),
            case(f, grad, input_shape, 2, divisor_override=0, error=ValueError,
                 name="divisor_override"),
            case(f, array(out_shape, np.int32, 1), input_shape, 2, error=TypeError,
                 name="grad_output"),
            case(f, grad, input_shape, 2, out=array(input_shape[:-1] + (1,)),
                 error=ValueError, name="out"),
            case(f, grad, input_shape, 2, out=array(input_shape, np.float32),
                 error=TypeError, name="out"),
        ]
    return cases


@pytest.mark.parametrize("function, args, kwargs, error, name",
                         forward_cases() + backward_cases())
def test_bad_argument(function, args, kwargs, error, name):
    args = [a.factory() if isinstance(a, Fresh) else a for a in args]
    kwargs = {k: v.factory() if isinstance(v, Fresh) else v for k, v in kwargs.items()}
    if isinstance(kwargs.get("out"), tuple):
        kwargs["out"] = tuple(o.factory() if isinstance(o, Fresh) else o
                              for o in kwargs["out"])
    inputs = [a for a in args if isinstance(a, np.ndarray)]
    before = [a.copy() for a in inputs]

    with pytest.raises(error, match=name) as raised:
        getattr(cypool, function)(*args, **kwargs)
    # The message names the argument; ``match`` searched for it, this shows what was said.
    assert re.search(name, str(raised.value)), str(raised.value)
    for after, copy in zip(inputs, before):
        np.testing.assert_array_equal(after, copy, strict=True)


def test_valid_neighbours_of_the_bad_cases_pass():
    """The error table's calls, made valid, succeed: the errors are about the bad values."""
    x = X2.factory()
    assert cypool.max_pool2d(x, 3, 1, 1).shape == (2, 3, 6, 7)
    assert cypool.max_pool2d(x, 2, 1, 1, 2).shape == (2, 3, 6, 7)
    assert cypool.avg_pool2d(x, 2, divisor_override=1).shape == OUT_SHAPE[2]
    assert cypool.max_pool1d(np.ones((1, 2, 1)), 2, 1, 1, 1).shape == (1, 2, 2)
    assert cypool.max_pool2d(x, 2, return_indices=True, out=(
        np.empty(OUT_SHAPE[2]), np.empty(OUT_SHAPE[2], np.int64)))[0].shape == OUT_SHAPE[2]


def test_windows_too_large_for_int64_arithmetic_are_refused():
    # Padding lets a huge kernel pass the output-size rule; the divisor would overflow.
    x = np.zeros((1, 1, 8, 9), np.float32)
    with pytest.raises(ValueError, match="kernel_size"):
        cypool.avg_pool2d(x, 2**40, padding=2**39)


def test_input_shape_too_large_for_an_array_is_refused():
    grad = np.ones((1, 1, 2, 2), np.float32)
    indices = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(ValueError, match="input_shape"):
        cypool.max_pool2d_backward(grad, indices, (1, 1, 2**40, 2**40))
