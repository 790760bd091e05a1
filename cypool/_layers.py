"""Pooling layers for hand-written NumPy networks: ``forward`` keeps what ``backward`` needs.

Constructor arguments are those of ``torch.nn.MaxPool2d`` and friends (same names, same order).
By default a layer writes every result into buffers it keeps from call to call, so a training
loop with a fixed input shape allocates no array memory after its first step; the arrays it
returns are therefore overwritten by the next call (pass ``reuse_buffers=False`` to get fresh
arrays every time).
"""

from __future__ import annotations

import numpy as np

from . import _adaptive_pool, _arrays, _avg_pool, _layout, _max_pool
from ._shape import (
    adaptive_output_size,
    as_flag,
    as_size_tuple,
    check_divisor_override,
    is_default_stride,
)

_LAYER_DOC_TAIL = """
Notes
-----
``layer(x)`` is ``layer.forward(x)``. In training mode (the default, ``layer.train()``) forward
keeps what :meth:`backward` needs; after ``layer.eval()`` it keeps nothing{eval_note}.
With ``reuse_buffers=True`` (the default) results are written into arrays the layer owns and
overwrites on its next call of the same kind: copy a result to keep it. An input that shares
memory with such a buffer gets a fresh one.
"""


class _PoolLayer:
    """Training mode, buffer reuse and the call protocol shared by every layer."""

    n_dims: int

    def __init__(self, *, n_threads=None, reuse_buffers=True) -> None:
        self.n_threads = n_threads
        self.reuse_buffers = as_flag("reuse_buffers", reuse_buffers)
        self.training = True
        self._buffers: dict[str, tuple] = {}  # role -> (shapes and dtypes, result)
        self._saved = None  # what backward needs, set by a training-mode forward

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode; return the layer."""
        self.training = as_flag("mode", mode)
        if not self.training:
            self._saved = None
        return self

    def eval(self):
        """Evaluation mode: forward keeps nothing for backward. Returns the layer."""
        return self.train(False)

    def __call__(self, input):
        return self.forward(input)

    def forward(self, input):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _reusable(self, role: str, key, inputs):
        """The result kept for ``role`` if it came from a call with the same ``key`` (shapes and
        dtypes) and overlaps none of ``inputs``; else None, and the op allocates."""
        kept_key, kept = self._buffers.get(role, (None, None))
        if kept is None or kept_key != key:
            return None
        arrays = kept if isinstance(kept, tuple) else (kept,)
        if any(np.shares_memory(array, input) for array in arrays for input in inputs):
            return None
        return kept

    def _is_channels_last(self, array):
        """Part of a buffer's key: results are stored in the layout of their input."""
        return array.ndim > self.n_dims and _layout.is_channels_last(array, self.n_dims)

    def _keep(self, role: str, key, result):
        if self.reuse_buffers:
            self._buffers[role] = (key, result)
        return result

    def _saved_for_backward(self):
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward needs a forward call in training mode first"
            )
        return self._saved

    def __repr__(self):
        arguments = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._arguments)
        return f"{type(self).__name__}({arguments})"


class _MaxLayer(_PoolLayer):
    """Max pooling of any kind: forward keeps the indices, backward scatters through them."""

    return_indices: bool
    index_dtype: object

    def _pool(self, input, with_indices, out):  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def forward(self, input):
        """Pool ``input``; returns values, or ``(values, indices)`` if ``return_indices``."""
        input = _arrays.as_array("input", input)
        # Indices are needed for backward in training mode even if not returned.
        with_indices = self.training or self.return_indices
        key = (input.shape, input.dtype, self._is_channels_last(input), with_indices)
        result = self._pool(input, with_indices, self._reusable("forward", key, (input,)))
        self._keep("forward", key, result)
        values, indices = result if with_indices else (result, None)
        if self.training:
            self._saved = (indices, input.shape)
        return (values, indices) if self.return_indices else values

    def backward(self, grad_output):
        """Gradient with respect to the last training-mode forward's input."""
        indices, input_shape = self._saved_for_backward()
        grad_output = _arrays.as_array("grad_output", grad_output)
        key = (grad_output.shape, grad_output.dtype, self._is_channels_last(grad_output),
               input_shape)
        grad_input = self._backward_function(
            grad_output, indices, input_shape, n_threads=self.n_threads,
            out=self._reusable("backward", key, (grad_output, indices)))
        return self._keep("backward", key, grad_input)


class _AvgLayer(_PoolLayer):
    """Average pooling of any kind: forward keeps the input shape for backward."""

    def _pool(self, input, out):  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def _gradient(self, grad_output, input_shape, out):  # pragma: no cover
        raise NotImplementedError

    def forward(self, input):
        """Average-pool ``input``."""
        input = _arrays.as_array("input", input)
        key = (input.shape, input.dtype, self._is_channels_last(input))
        result = self._pool(input, self._reusable("forward", key, (input,)))
        if self.training:
            self._saved = input.shape
        return self._keep("forward", key, result)

    def backward(self, grad_output):
        """Gradient with respect to the last training-mode forward's input."""
        input_shape = self._saved_for_backward()
        grad_output = _arrays.as_array("grad_output", grad_output)
        key = (grad_output.shape, grad_output.dtype, self._is_channels_last(grad_output),
               input_shape)
        grad_input = self._gradient(grad_output, input_shape,
                                    self._reusable("backward", key, (grad_output,)))
        return self._keep("backward", key, grad_input)


class _MaxPoolLayer(_MaxLayer):
    _arguments = ("kernel_size", "stride", "padding", "dilation", "return_indices",
                  "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False, *, n_threads=None, index_dtype=np.int64, reuse_buffers=True):
        super().__init__(n_threads=n_threads, reuse_buffers=reuse_buffers)
        n = self.n_dims
        self.kernel_size = as_size_tuple("kernel_size", kernel_size, n)
        self.stride = None if is_default_stride(stride) else as_size_tuple("stride", stride, n)
        self.padding = as_size_tuple("padding", padding, n)
        self.dilation = as_size_tuple("dilation", dilation, n)
        self.return_indices = as_flag("return_indices", return_indices)
        self.ceil_mode = as_flag("ceil_mode", ceil_mode)
        self.index_dtype = index_dtype
        self._function = getattr(_max_pool, f"max_pool{n}d")
        self._backward_function = getattr(_max_pool, f"max_pool{n}d_backward")

    def _pool(self, input, with_indices, out):
        return self._function(input, self.kernel_size, self.stride, self.padding,
                              self.dilation, self.ceil_mode, with_indices, out=out,
                              n_threads=self.n_threads, index_dtype=self.index_dtype)


class _AdaptiveMaxPoolLayer(_MaxLayer):
    _arguments = ("output_size", "return_indices")

    def __init__(self, output_size, return_indices=False, *, n_threads=None,
                 index_dtype=np.int64, reuse_buffers=True):
        super().__init__(n_threads=n_threads, reuse_buffers=reuse_buffers)
        self.output_size = output_size  # checked against each input by the function
        self.return_indices = as_flag("return_indices", return_indices)
        self.index_dtype = index_dtype
        self._function = getattr(_adaptive_pool, f"adaptive_max_pool{self.n_dims}d")
        self._backward_function = getattr(_adaptive_pool,
                                          f"adaptive_max_pool{self.n_dims}d_backward")

    def _pool(self, input, with_indices, out):
        return self._function(input, self.output_size, with_indices, out=out,
                              n_threads=self.n_threads, index_dtype=self.index_dtype)


class _AvgPoolLayer(_AvgLayer):
    _arguments = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                  "divisor_override")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, n_threads=None,
                 reuse_buffers=True):
        super().__init__(n_threads=n_threads, reuse_buffers=reuse_buffers)
        n = self.n_dims
        self.kernel_size = as_size_tuple("kernel_size", kernel_size, n)
        self.stride = None if is_default_stride(stride) else as_size_tuple("stride", stride, n)
        self.padding = as_size_tuple("padding", padding, n)
        self.ceil_mode = as_flag("ceil_mode", ceil_mode)
        self.count_include_pad = as_flag("count_include_pad", count_include_pad)
        if divisor_override is not None:
            check_divisor_override(divisor_override)
        self.divisor_override = divisor_override
        self._function = getattr(_avg_pool, f"avg_pool{n}d")
        self._backward_function = getattr(_avg_pool, f"avg_pool{n}d_backward")

    def _window(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override)

    def _pool(self, input, out):
        return self._function(input, **self._window(), out=out, n_threads=self.n_threads)

    def _gradient(self, grad_output, input_shape, out):
        return self._backward_function(grad_output, input_shape, **self._window(), out=out,
                                       n_threads=self.n_threads)


class _AdaptiveAvgPoolLayer(_AvgLayer):
    _arguments = ("output_size",)

    def __init__(self, output_size, *, n_threads=None, reuse_buffers=True):
        super().__init__(n_threads=n_threads, reuse_buffers=reuse_buffers)
        self.output_size = output_size  # checked against each input by the function
        self._function = getattr(_adaptive_pool, f"adaptive_avg_pool{self.n_dims}d")
        self._backward_function = getattr(_adaptive_pool,
                                          f"adaptive_avg_pool{self.n_dims}d_backward")

    def _pool(self, input, out):
        return self._function(input, self.output_size, out=out, n_threads=self.n_threads)

    def _gradient(self, grad_output, input_shape, out):
        # The function takes its output size from grad_output: check it is forward's.
        output_size = adaptive_output_size(self.output_size, input_shape[-self.n_dims:])
        if (grad_output.ndim == len(input_shape)
                and grad_output.shape[-self.n_dims:] != output_size):
            raise ValueError(
                f"grad_output must have the spatial size of the last forward's output "
                f"{output_size}, got shape {grad_output.shape}"
            )
        return self._backward_function(grad_output, input_shape, out=out,
                                       n_threads=self.n_threads)


# Docstrings: one template; each layer kind fills in its title, its own parameters, the
# arguments of its example and what eval mode saves.
_LAYER_DOC = """{n}-d {title} layer, as ``torch.nn.{name}{n}d`` (same arguments, same order).

Parameters
----------
{parameters}
n_threads : int, optional, keyword-only
    Threads per call; default (None) :func:`cypool.get_num_threads`.{index_dtype}
reuse_buffers : bool, default True, keyword-only
    Write results into arrays the layer keeps (see Notes).
{tail}
Examples
--------
>>> import numpy as np
>>> import cypool
>>> pool = cypool.{name}{n}d({example_argument})
>>> x = np.arange({size}, dtype=np.float32).reshape({shape})
>>> y = pool(x)
>>> y.shape
{out_shape}
>>> grad_x = pool.backward(np.ones_like(y))
>>> float(grad_x.sum()), grad_x.shape == x.shape
({out_size}.0, True)
"""

_RETURN_INDICES = """
return_indices : bool, default False
    ``forward`` returns ``(values, indices)`` instead of values."""

_INDEX_DTYPE = """
index_dtype : {numpy.int64, numpy.int32}, default numpy.int64, keyword-only
    dtype of the indices kept for backward (and returned)."""

_KINDS = {
    # name: (title, parameters, index_dtype entry, eval-mode note)
    "MaxPool": ("max pooling",
                "kernel_size, stride, padding, dilation, ceil_mode\n"
                "    As for :func:`cypool.max_pool{n}d`." + _RETURN_INDICES,
                _INDEX_DTYPE,
                " and, unless ``return_indices``, computes no indices (a faster kernel)"),
    "AvgPool": ("average pooling",
                "kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override\n"
                "    As for :func:`cypool.avg_pool{n}d`.", "", ""),
    "AdaptiveMaxPool": ("adaptive max pooling",
                        "output_size\n    As for :func:`cypool.adaptive_max_pool{n}d` "
                        "(``None`` entries keep that input size)." + _RETURN_INDICES,
                        _INDEX_DTYPE, " and computes no indices unless ``return_indices``"),
    "AdaptiveAvgPool": ("adaptive average pooling",
                        "output_size\n    As for :func:`cypool.adaptive_avg_pool{n}d` "
                        "(``None`` entries keep that input size).", "", ""),
}

# (input shape, output shape) of each dimension's example: windows of 2 halve every axis.
_EXAMPLE_SHAPES = {1: ((1, 2, 6), (1, 2, 3)), 2: ((1, 2, 4, 6), (1, 2, 2, 3)),
                   3: ((1, 2, 2, 4, 6), (1, 2, 1, 2, 3))}


def _layer_doc(name: str, n: int) -> str:
    title, parameters, index_dtype, eval_note = _KINDS[name]
    shape, out_shape = _EXAMPLE_SHAPES[n]
    example_argument = out_shape[2:] if name.startswith("Adaptive") else 2
    return _LAYER_DOC.format(
        n=n, name=name, title=title, parameters=parameters.format(n=n), index_dtype=index_dtype,
        tail=_LAYER_DOC_TAIL.format(eval_note=eval_note), example_argument=example_argument,
        shape=shape, out_shape=out_shape, size=int(np.prod(shape)),
        out_size=int(np.prod(out_shape)))


class MaxPool1d(_MaxPoolLayer):
    __doc__ = _layer_doc("MaxPool", 1)
    n_dims = 1


class MaxPool2d(_MaxPoolLayer):
    __doc__ = _layer_doc("MaxPool", 2)
    n_dims = 2


class MaxPool3d(_MaxPoolLayer):
    __doc__ = _layer_doc("MaxPool", 3)
    n_dims = 3


class AvgPool1d(_AvgPoolLayer):
    __doc__ = _layer_doc("AvgPool", 1)
    n_dims = 1


class AvgPool2d(_AvgPoolLayer):
    __doc__ = _layer_doc("AvgPool", 2)
    n_dims = 2


class AvgPool3d(_AvgPoolLayer):
    __doc__ = _layer_doc("AvgPool", 3)
    n_dims = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolLayer):
    __doc__ = _layer_doc("AdaptiveMaxPool", 1)
    n_dims = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolLayer):
    __doc__ = _layer_doc("AdaptiveMaxPool", 2)
    n_dims = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolLayer):
    __doc__ = _layer_doc("AdaptiveMaxPool", 3)
    n_dims = 3


class AdaptiveAvgPool1d(_AdaptiveAvgPoolLayer):
    __doc__ = _layer_doc("AdaptiveAvgPool", 1)
    n_dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolLayer):
    __doc__ = _layer_doc("AdaptiveAvgPool", 2)
    n_dims = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolLayer):
    __doc__ = _layer_doc("AdaptiveAvgPool", 3)
    n_dims = 3
