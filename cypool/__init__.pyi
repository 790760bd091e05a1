"""Type stubs for cypool's public API (checked against the runtime by mypy.stubtest)."""

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

_Size = int | tuple[int, ...] | list[int]
_Shape = tuple[int, ...] | list[int]
# Every op also takes float16 (and max pooling forward and unpooling integers).
_Float = NDArray[np.float16] | NDArray[np.float32] | NDArray[np.float64]
_Indices = NDArray[np.int64] | NDArray[np.int32]
# Max pooling forward also pools integer arrays.
_Pooled = _Float | NDArray[np.integer]

_OutputSize = int | None | tuple[int | None, ...] | list[int | None]
_Ratio = float | tuple[float, ...] | list[float]
_RandomState = int | np.random.Generator | None

__version__: str
__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "fractional_max_pool2d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d",
    "fractional_max_pool3d_backward",
    "get_num_threads",
    "global_avg_pool1d",
    "global_avg_pool1d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_avg_pool3d",
    "global_avg_pool3d_backward",
    "global_max_pool1d",
    "global_max_pool1d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "global_max_pool3d",
    "global_max_pool3d_backward",
    "lp_pool1d",
    "lp_pool1d_backward",
    "lp_pool2d",
    "lp_pool2d_backward",
    "lp_pool3d",
    "lp_pool3d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "max_unpool1d",
    "max_unpool1d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
    "set_num_threads",
]

def get_num_threads() -> int: ...
def set_num_threads(n_threads: int | None) -> None: ...

@overload
def max_pool1d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Pooled: ...
@overload
def max_pool1d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool1d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool1d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Pooled | tuple[_Pooled, _Indices]: ...
def max_pool1d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def avg_pool1d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def avg_pool1d_backward(
    grad_output: ArrayLike, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

@overload
def max_pool2d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Pooled: ...
@overload
def max_pool2d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool2d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool2d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Pooled | tuple[_Pooled, _Indices]: ...
def max_pool2d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def avg_pool2d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def avg_pool2d_backward(
    grad_output: ArrayLike, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

@overload
def max_pool3d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Pooled: ...
@overload
def max_pool3d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool3d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Pooled, _Indices]: ...
@overload
def max_pool3d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Pooled | tuple[_Pooled, _Indices]: ...
def max_pool3d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def avg_pool3d(
    input: ArrayLike, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def avg_pool3d_backward(
    grad_output: ArrayLike, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

@overload
def adaptive_max_pool1d(
    input: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def adaptive_max_pool1d(
    input: ArrayLike, output_size: _OutputSize, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def adaptive_max_pool1d(
    input: ArrayLike, output_size: _OutputSize, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def adaptive_max_pool1d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool1d(
    input: ArrayLike, output_size: _OutputSize, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool1d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...

@overload
def global_max_pool1d(
    input: ArrayLike, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def global_max_pool1d(
    input: ArrayLike, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def global_max_pool1d(
    input: ArrayLike, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def global_max_pool1d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool1d(
    input: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool1d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool1d_backward(
    grad_output: ArrayLike, indices: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool1d(
    input: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = None,
    padding: _Size = 0, output_size: _Shape | None = None, *,
    out: NDArray[np.floating] | NDArray[np.integer] | None = None, n_threads: int | None = None,
) -> _Pooled: ...

@overload
def adaptive_max_pool2d(
    input: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def adaptive_max_pool2d(
    input: ArrayLike, output_size: _OutputSize, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def adaptive_max_pool2d(
    input: ArrayLike, output_size: _OutputSize, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def adaptive_max_pool2d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool2d(
    input: ArrayLike, output_size: _OutputSize, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool2d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...

@overload
def global_max_pool2d(
    input: ArrayLike, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def global_max_pool2d(
    input: ArrayLike, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def global_max_pool2d(
    input: ArrayLike, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def global_max_pool2d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool2d(
    input: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool2d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool2d_backward(
    grad_output: ArrayLike, indices: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool2d(
    input: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = None,
    padding: _Size = 0, output_size: _Shape | None = None, *,
    out: NDArray[np.floating] | NDArray[np.integer] | None = None, n_threads: int | None = None,
) -> _Pooled: ...

@overload
def adaptive_max_pool3d(
    input: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def adaptive_max_pool3d(
    input: ArrayLike, output_size: _OutputSize, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def adaptive_max_pool3d(
    input: ArrayLike, output_size: _OutputSize, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def adaptive_max_pool3d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool3d(
    input: ArrayLike, output_size: _OutputSize, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def adaptive_avg_pool3d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...

@overload
def global_max_pool3d(
    input: ArrayLike, return_indices: Literal[False] = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
    index_dtype: DTypeLike = ...,
) -> _Float: ...
@overload
def global_max_pool3d(
    input: ArrayLike, *, return_indices: Literal[True],
    out: tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[_Float, _Indices]: ...
@overload
def global_max_pool3d(
    input: ArrayLike, return_indices: bool = False, *,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.integer]] | None = None,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> _Float | tuple[_Float, _Indices]: ...
def global_max_pool3d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool3d(
    input: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def global_avg_pool3d_backward(
    grad_output: ArrayLike, input_shape: _Shape, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool3d_backward(
    grad_output: ArrayLike, indices: ArrayLike, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def max_unpool3d(
    input: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = None,
    padding: _Size = 0, output_size: _Shape | None = None, *,
    out: NDArray[np.floating] | NDArray[np.integer] | None = None, n_threads: int | None = None,
) -> _Pooled: ...

def lp_pool1d(
    input: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = None,
    ceil_mode: bool = False, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def lp_pool1d_backward(
    grad_output: ArrayLike, input: ArrayLike, norm_type: float, kernel_size: _Size,
    stride: _Size | None = None, ceil_mode: bool = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def lp_pool2d(
    input: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = None,
    ceil_mode: bool = False, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def lp_pool2d_backward(
    grad_output: ArrayLike, input: ArrayLike, norm_type: float, kernel_size: _Size,
    stride: _Size | None = None, ceil_mode: bool = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
def lp_pool3d(
    input: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = None,
    ceil_mode: bool = False, *, out: NDArray[np.floating] | None = None,
    n_threads: int | None = None,
) -> _Float: ...
def lp_pool3d_backward(
    grad_output: ArrayLike, input: ArrayLike, norm_type: float, kernel_size: _Size,
    stride: _Size | None = None, ceil_mode: bool = False, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

@overload
def fractional_max_pool2d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, return_indices: Literal[False] = False,
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
@overload
def fractional_max_pool2d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, *, return_indices: Literal[True],
    _random_samples: ArrayLike | None = None, random_state: _RandomState = None,
    out: tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> tuple[_Float, NDArray[np.int64]]: ...
@overload
def fractional_max_pool2d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None,
    output_ratio: _Ratio | None, return_indices: Literal[True],
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> tuple[_Float, NDArray[np.int64]]: ...
@overload
def fractional_max_pool2d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, return_indices: bool = False,
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> _Float | tuple[_Float, NDArray[np.int64]]: ...
def fractional_max_pool2d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

@overload
def fractional_max_pool3d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, return_indices: Literal[False] = False,
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...
@overload
def fractional_max_pool3d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, *, return_indices: Literal[True],
    _random_samples: ArrayLike | None = None, random_state: _RandomState = None,
    out: tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> tuple[_Float, NDArray[np.int64]]: ...
@overload
def fractional_max_pool3d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None,
    output_ratio: _Ratio | None, return_indices: Literal[True],
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> tuple[_Float, NDArray[np.int64]]: ...
@overload
def fractional_max_pool3d(
    input: ArrayLike, kernel_size: _Size, output_size: _Size | None = None,
    output_ratio: _Ratio | None = None, return_indices: bool = False,
    _random_samples: ArrayLike | None = None, *, random_state: _RandomState = None,
    out: NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.int64]] | None = None,
    n_threads: int | None = None,
) -> _Float | tuple[_Float, NDArray[np.int64]]: ...
def fractional_max_pool3d_backward(
    grad_output: ArrayLike, indices: ArrayLike, input_shape: _Shape, *,
    out: NDArray[np.floating] | None = None, n_threads: int | None = None,
) -> _Float: ...

class _PoolLayer:
    n_dims: int
    n_threads: int | None
    reuse_buffers: bool
    training: bool
    def train(self, mode: bool = True) -> "_PoolLayer": ...
    def eval(self) -> "_PoolLayer": ...

class _MaxPoolLayer(_PoolLayer):
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...] | None
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    return_indices: bool
    ceil_mode: bool
    index_dtype: DTypeLike
    def __init__(
        self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
        dilation: _Size = 1, return_indices: bool = False, ceil_mode: bool = False, *,
        n_threads: int | None = None, index_dtype: DTypeLike = ..., reuse_buffers: bool = True,
    ) -> None: ...
    def __call__(self, input: ArrayLike) -> _Pooled | tuple[_Pooled, _Indices]: ...
    def forward(self, input: ArrayLike) -> _Pooled | tuple[_Pooled, _Indices]: ...
    def backward(self, grad_output: ArrayLike) -> _Float: ...

class _AvgPoolLayer(_PoolLayer):
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...] | None
    padding: tuple[int, ...]
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: int | None
    def __init__(
        self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
        ceil_mode: bool = False, count_include_pad: bool = True,
        divisor_override: int | None = None, *, n_threads: int | None = None,
        reuse_buffers: bool = True,
    ) -> None: ...
    def __call__(self, input: ArrayLike) -> _Float: ...
    def forward(self, input: ArrayLike) -> _Float: ...
    def backward(self, grad_output: ArrayLike) -> _Float: ...

class _AdaptiveMaxPoolLayer(_PoolLayer):
    output_size: _OutputSize
    return_indices: bool
    index_dtype: DTypeLike
    def __init__(
        self, output_size: _OutputSize, return_indices: bool = False, *,
        n_threads: int | None = None, index_dtype: DTypeLike = ..., reuse_buffers: bool = True,
    ) -> None: ...
    def __call__(self, input: ArrayLike) -> _Float | tuple[_Float, _Indices]: ...
    def forward(self, input: ArrayLike) -> _Float | tuple[_Float, _Indices]: ...
    def backward(self, grad_output: ArrayLike) -> _Float: ...

class _AdaptiveAvgPoolLayer(_PoolLayer):
    output_size: _OutputSize
    def __init__(
        self, output_size: _OutputSize, *, n_threads: int | None = None,
        reuse_buffers: bool = True,
    ) -> None: ...
    def __call__(self, input: ArrayLike) -> _Float: ...
    def forward(self, input: ArrayLike) -> _Float: ...
    def backward(self, grad_output: ArrayLike) -> _Float: ...

class AdaptiveMaxPool1d(_AdaptiveMaxPoolLayer): ...
class AdaptiveMaxPool2d(_AdaptiveMaxPoolLayer): ...
class AdaptiveMaxPool3d(_AdaptiveMaxPoolLayer): ...
class AdaptiveAvgPool1d(_AdaptiveAvgPoolLayer): ...
class AdaptiveAvgPool2d(_AdaptiveAvgPoolLayer): ...
class AdaptiveAvgPool3d(_AdaptiveAvgPoolLayer): ...
class MaxPool1d(_MaxPoolLayer): ...
class MaxPool2d(_MaxPoolLayer): ...
class MaxPool3d(_MaxPoolLayer): ...
class AvgPool1d(_AvgPoolLayer): ...
class AvgPool2d(_AvgPoolLayer): ...
class AvgPool3d(_AvgPoolLayer): ...
