"""Pool an on-disk Zarr array larger than memory into another on-disk Zarr array.

    python examples/dask_out_of_core.py DIRECTORY [--shape N,C,H,W] [--chunks N,C,H,W]

writes a float32 input of ``--shape`` (default 8 x 4 x 16384 x 16384: 32 GiB) to
``DIRECTORY/input.zarr`` (a compressible synthetic pattern, so the disk holds far less), max
pools it (3x3 windows, stride 2, padding 1: windows cross every chunk boundary) with
``cypool.dask`` into ``DIRECTORY/output.zarr``, prints the sizes, the times and the process's
peak resident memory up to then, and compares ``--check-planes`` random whole planes of the
output with in-memory cypool.

Peak memory is bounded by the chunks, not by the array: each of the ``--workers`` scheduler
threads runs one task at a time, which holds an input block with its halo, its output block
and the Zarr codec's buffers; input chunks wait in memory only until the output blocks whose
halos reach into them are done.
"""

import argparse
import json
import os
import resource
import subprocess
import time

import dask
import dask.array as da
import numpy as np
import zarr

import cypool
import cypool.dask

WINDOW = {"kernel_size": 3, "stride": 2, "padding": 1}


def synthetic_block(block_info=None):
    """A pattern that compresses well but varies within every window: each element is a
    row term plus a column term (periods 251 and 257) plus its plane's number."""
    location = block_info[None]["array-location"]
    (n0, n1), (c0, c1), (h0, h1), (w0, w1) = location
    planes = (np.arange(n0, n1)[:, None] * 1000 + np.arange(c0, c1)[None, :] * 10)
    rows = (np.arange(h0, h1) % 251).astype(np.float32)
    columns = (np.arange(w0, w1) % 257).astype(np.float32) * 0.5
    return (planes[:, :, None, None].astype(np.float32) + rows[:, None]) + columns


def write_input(path, shape, chunks, workers):
    pattern = da.map_blocks(synthetic_block, chunks=da.core.normalize_chunks(chunks, shape),
                            dtype=np.float32, meta=np.empty((0,) * 4, np.float32))
    pattern.to_zarr(path, overwrite=True, compute=False).compute(num_workers=workers)


def pool(input_path, output_path, workers):
    source = da.from_zarr(input_path)
    pooled = cypool.dask.max_pool2d(source, **WINDOW, n_threads=1)
    # Output blocks hold the windows that start in their input chunk: with padding 1 the first
    # block holds one window more. Zarr wants regular chunks: half the input's.
    regular = pooled.rechunk({axis: max(1, size[0] // 2)
                              for axis, size in ((2, source.chunks[2]), (3, source.chunks[3]))})
    regular.to_zarr(output_path, overwrite=True, compute=False).compute(num_workers=workers)
    return source, regular


def check(input_path, output_path, planes, seed=0):
    """``planes`` random (n, c) planes of the output (all of them if more) equal in-memory
    cypool on the whole input plane: every block boundary and the true edges included."""
    source = zarr.open_array(input_path, mode="r")
    result = zarr.open_array(output_path, mode="r")
    everything = [(n, c) for n in range(source.shape[0]) for c in range(source.shape[1])]
    chosen = np.random.default_rng(seed).permutation(len(everything))[:planes]
    return all(
        np.array_equal(result[everything[i]],
                       cypool.max_pool2d(source[everything[i]][None], **WINDOW)[0],
                       equal_nan=True)
        for i in chosen)


def disk_bytes(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--shape", default="8,4,16384,16384")
    parser.add_argument("--chunks", default="1,1,4096,4096")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check-planes", type=int, default=2,
                        help="how many random (n, c) planes to compare with in-memory cypool")
    arguments = parser.parse_args()
    shape = tuple(int(size) for size in arguments.shape.split(","))
    chunks = tuple(int(size) for size in arguments.chunks.split(","))
    input_path = os.path.join(arguments.directory, "input.zarr")
    output_path = os.path.join(arguments.directory, "output.zarr")
    dask.config.set(scheduler="threads")

    start = time.perf_counter()
    write_input(input_path, shape, chunks, arguments.workers)
    written = time.perf_counter()
    source, pooled = pool(input_path, output_path, arguments.workers)
    pooled_at = time.perf_counter()
    # Before the check, which reads whole planes into memory.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    exact = check(input_path, output_path, arguments.check_planes)
    report = {
        "input_shape": list(shape), "input_chunks": list(chunks),
        "output_shape": list(pooled.shape), "output_chunks": [list(c[:2]) for c in
                                                               pooled.chunks],
        "input_logical_gib": round(source.nbytes / 2**30, 2),
        "output_logical_gib": round(pooled.nbytes / 2**30, 2),
        "input_disk_mib": round(disk_bytes(input_path) / 2**20, 1),
        "output_disk_mib": round(disk_bytes(output_path) / 2**20, 1),
        "write_input_seconds": round(written - start, 1),
        "pool_seconds": round(pooled_at - written, 1),
        "workers": arguments.workers,
        "peak_rss_mib": round(peak_rss / 2**20, 1),
        "planes_checked": min(arguments.check_planes, shape[0] * shape[1]),
        "equal_to_in_memory": exact,
    }
    for key, value in report.items():
        print(f"{key}: {json.dumps(value)}")
    if not exact:
        raise SystemExit("the pooled array differs from in-memory cypool")


if __name__ == "__main__":
    main()
