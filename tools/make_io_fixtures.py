#!/usr/bin/env python3
"""Reference files for tests/io/ written by numpy and the safetensors package.

    python3 tools/make_io_fixtures.py            # (re)writes tests/io/fixtures/ and the
                                                 # binary fuzz seeds in tests/fuzz/corpus/
    python3 tools/make_io_fixtures.py --check F  # loads F with the Python package
                                                 # (.safetensors or .npy) and prints it

The C tests read these files, so the C reader is checked against the
reference writers, and the C npy writer's bytes are compared with numpy's for
the same arrays (numpy's header padding is reproduced exactly). `--check` is
the other direction: feed it a file yoloc wrote. Needs `pip install numpy
safetensors`; the tests themselves never run Python. Values are small
integers and halves so they are exact in every dtype used.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "io", "fixtures")
CORPUS = os.path.join(HERE, "..", "tests", "fuzz", "corpus")


def write_fixtures():
    from safetensors.numpy import save_file

    os.makedirs(OUT, exist_ok=True)
    # safetensors: F32 [2,3] = 0, 0.5, ..., 2.5; I64 [] = -7; F16 [3] = 1, -2, 0.25;
    # the package orders tensors by dtype alignment, then name, in the file.
    tensors = {
        "model.0.conv.weight": (np.arange(6, dtype=np.float32) / 2).reshape(2, 3),
        "model.0.bn.num_batches_tracked": np.array(-7, dtype=np.int64),
        "model.1.half": np.array([1.0, -2.0, 0.25], dtype=np.float16),
    }
    save_file(tensors, os.path.join(OUT, "tiny.safetensors"), metadata={"format": "pt", "epoch": "3"})

    # npy: what numpy.save writes for these arrays (format 1.0)
    np.save(os.path.join(OUT, "f4_2x3.npy"), (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3))
    np.save(os.path.join(OUT, "f4_scalar.npy"), np.array(1.5, dtype=np.float32))
    np.save(os.path.join(OUT, "f4_empty_0x4.npy"), np.zeros((0, 4), dtype=np.float32))
    # a long first axis: the header's growth padding depends on len(str(shape[0]))
    np.save(os.path.join(OUT, "f4_empty_1234x0.npy"), np.zeros((1234, 0), dtype=np.float32))
    np.save(os.path.join(OUT, "f8_4.npy"), np.array([0.5, -1.0, 3.0, 1e10], dtype=np.float64))
    # format 2.0 (u32 header length), written explicitly
    with open(os.path.join(OUT, "f4_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([[1.0, 2.0]], dtype=np.float32), version=(2, 0))


def write_fuzz_seeds():
    """A few small valid and slightly broken files per binary format."""
    import io
    import struct

    from safetensors.numpy import save

    st = os.path.join(CORPUS, "safetensors")
    os.makedirs(st, exist_ok=True)
    multi = save({"u8": np.arange(5, dtype=np.uint8), "i32": np.array([[-1, 2]], dtype=np.int32),
                  "f16": np.ones((2, 1, 2), dtype=np.float16), "f32": np.linspace(0, 1, 6, dtype=np.float32),
                  "i64": np.array(3, dtype=np.int64), "empty": np.zeros((0, 3), dtype=np.float32)},
                 metadata={"format": "pt"})
    seeds = {
        "multi.safetensors": multi,
        "none.safetensors": save({}),
        "truncated_bad.safetensors": multi[: len(multi) - 3],
    }
    hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    seeds["overlap_bad.safetensors"] = struct.pack("<Q", len(hdr)) + hdr + bytes(12)
    with open(os.path.join(OUT, "tiny.safetensors"), "rb") as f:
        seeds["tiny_py.safetensors"] = f.read()
    for name, data in seeds.items():
        with open(os.path.join(st, name), "wb") as f:
            f.write(data)

    npy = os.path.join(CORPUS, "npy")
    os.makedirs(npy, exist_ok=True)

    def npy_bytes(a, version=None):
        b = io.BytesIO()
        if version:
            np.lib.format.write_array(b, a, version=version)
        else:
            np.save(b, a)
        return b.getvalue()

    a = (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3)
    seeds = {
        "f4_2x3.npy": npy_bytes(a),
        "f8_3.npy": npy_bytes(np.array([0.5, -1.0, 1e10])),
        "f4_scalar.npy": npy_bytes(np.array(1.5, dtype=np.float32)),
        "f4_v2.npy": npy_bytes(a[:1], version=(2, 0)),
        "f4_v3.npy": npy_bytes(a[:, :1], version=(3, 0)),
        "fortran_bad.npy": npy_bytes(np.asfortranarray(a)),
        "i8_bad.npy": npy_bytes(np.arange(3, dtype=np.int64)),
        "truncated_bad.npy": npy_bytes(a)[:-5],
    }
    for name, data in seeds.items():
        with open(os.path.join(npy, name), "wb") as f:
            f.write(data)


def check(path):
    if path.endswith(".npy"):
        a = np.load(path)
        print(path, a.dtype, a.shape, a.ravel()[:8])
        return
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        print(path, "metadata", f.metadata())
        for k in f.keys():
            s = f.get_slice(k)
            if s.get_dtype() == "BF16":  # numpy has no bfloat16: dtype and shape only
                print(" ", k, "BF16", tuple(s.get_shape()))
                continue
            t = f.get_tensor(k)
            print(" ", k, t.dtype, t.shape, t.ravel()[:8])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write_fixtures()
        write_fuzz_seeds()
