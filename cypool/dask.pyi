"""Type stubs for cypool.dask (checked against the runtime by mypy.stubtest)."""

from typing import Literal, overload

from dask.array import Array
from numpy.typing import ArrayLike, DTypeLike

_Size = int | tuple[int, ...] | list[int]
_Shape = tuple[int, ...] | list[int]
_OutputSize = int | None | tuple[int | None, ...] | list[int | None]
_Input = Array | ArrayLike
# Chunks in any form dask.array.core.normalize_chunks takes.
_Chunks = object

__all__ = [
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
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
]


@overload
def max_pool1d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def max_pool1d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool1d(
    input: _Input, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool1d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def max_pool1d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def avg_pool1d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, n_threads: int | None = None,
) -> Array: ...
def avg_pool1d_backward(
    grad_output: _Input, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    chunks: _Chunks = None, n_threads: int | None = None,
) -> Array: ...

@overload
def adaptive_max_pool1d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def adaptive_max_pool1d(
    input: _Input, output_size: _OutputSize, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool1d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool1d(
    input: _Input, output_size: _OutputSize, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def adaptive_max_pool1d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool1d(
    input: _Input, output_size: _OutputSize, *, n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool1d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...

@overload
def global_max_pool1d(
    input: _Input, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def global_max_pool1d(
    input: _Input, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def global_max_pool1d(
    input: _Input, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def global_max_pool1d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def global_avg_pool1d(input: _Input, *, n_threads: int | None = None) -> Array: ...
def global_avg_pool1d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...


@overload
def max_pool2d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def max_pool2d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool2d(
    input: _Input, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool2d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def max_pool2d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def avg_pool2d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, n_threads: int | None = None,
) -> Array: ...
def avg_pool2d_backward(
    grad_output: _Input, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    chunks: _Chunks = None, n_threads: int | None = None,
) -> Array: ...

@overload
def adaptive_max_pool2d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def adaptive_max_pool2d(
    input: _Input, output_size: _OutputSize, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool2d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool2d(
    input: _Input, output_size: _OutputSize, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def adaptive_max_pool2d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool2d(
    input: _Input, output_size: _OutputSize, *, n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool2d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...

@overload
def global_max_pool2d(
    input: _Input, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def global_max_pool2d(
    input: _Input, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def global_max_pool2d(
    input: _Input, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def global_max_pool2d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def global_avg_pool2d(input: _Input, *, n_threads: int | None = None) -> Array: ...
def global_avg_pool2d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...


@overload
def max_pool3d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def max_pool3d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool3d(
    input: _Input, kernel_size: _Size, stride: _Size | None, padding: _Size,
    dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def max_pool3d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    dilation: _Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def max_pool3d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def avg_pool3d(
    input: _Input, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None, *, n_threads: int | None = None,
) -> Array: ...
def avg_pool3d_backward(
    grad_output: _Input, input_shape: _Shape, kernel_size: _Size,
    stride: _Size | None = None, padding: _Size = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, *,
    chunks: _Chunks = None, n_threads: int | None = None,
) -> Array: ...

@overload
def adaptive_max_pool3d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def adaptive_max_pool3d(
    input: _Input, output_size: _OutputSize, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool3d(
    input: _Input, output_size: _OutputSize, return_indices: Literal[True], *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def adaptive_max_pool3d(
    input: _Input, output_size: _OutputSize, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def adaptive_max_pool3d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool3d(
    input: _Input, output_size: _OutputSize, *, n_threads: int | None = None,
) -> Array: ...
def adaptive_avg_pool3d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...

@overload
def global_max_pool3d(
    input: _Input, return_indices: Literal[False] = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array: ...
@overload
def global_max_pool3d(
    input: _Input, *, return_indices: Literal[True],
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> tuple[Array, Array]: ...
@overload
def global_max_pool3d(
    input: _Input, return_indices: bool = False, *,
    n_threads: int | None = None, index_dtype: DTypeLike = ...,
) -> Array | tuple[Array, Array]: ...
def global_max_pool3d_backward(
    grad_output: _Input, indices: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
def global_avg_pool3d(input: _Input, *, n_threads: int | None = None) -> Array: ...
def global_avg_pool3d_backward(
    grad_output: _Input, input_shape: _Shape, *, chunks: _Chunks = None,
    n_threads: int | None = None,
) -> Array: ...
