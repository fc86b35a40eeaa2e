#!/usr/bin/env python3
"""PyTorch .pt fixtures for tests/io/test_ptfile.c (io/zip, io/pickle, io/ptfile).

Writes into tests/io/fixtures/pt/ (small files, committed):
  state_dict.pt           torch.save of an OrderedDict of tensors: float32, float16, bfloat16,
                          int64, a transposed view (non-contiguous strides), two views sharing
                          one storage at different offsets, a 0-dim scalar, an empty tensor
  state_dict_deflated.pt  the same archive re-written with deflated entries
  module.pt               torch.save of a whole nn.Sequential(Conv2d, BatchNorm2d, SiLU)
                          (a module object, not a state dict), weights from a fixed seed
  module_state.safetensors the state dict of module.pt, as the expected values
  evil_system.pt          an archive in torch.save's layout whose pickle calls os.system
  evil_eval.pt            ... whose pickle calls builtins.eval
The evil files are built from raw pickle opcodes; nothing in them is ever executed here.

Run with a PyTorch install:  python tools/make_pt_fixtures.py
"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "io", "fixtures", "pt")
SENTINEL = "/tmp/yoloc_pt_fixture_ran"  # the evil pickles would create this file


def base_values():
    return torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5 - 3.0


def state_dict():
    base = torch.arange(10, dtype=torch.float32) * 1.5
    sd = collections.OrderedDict()
    sd["w32"] = base_values()
    sd["w16"] = base_values().half()
    sd["wbf"] = base_values().bfloat16()
    sd["i64"] = torch.tensor([1, -2, 3**30], dtype=torch.int64)
    sd["view_t"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # strides (1, 4)
    sd["shared_a"] = base[2:6]  # offset 2 into one storage
    sd["shared_b"] = base[5:]  # offset 5 into the same storage
    sd["scalar"] = torch.tensor(7, dtype=torch.int64)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def deflate(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


def evil(path, module, name, arg):
    """A torch.save-shaped archive whose data.pkl is: GLOBAL module.name, (arg,), REDUCE, STOP."""
    p = io.BytesIO()
    p.write(b"\x80\x02")  # PROTO 2
    p.write(b"c" + module.encode() + b"\n" + name.encode() + b"\n")  # GLOBAL
    a = arg.encode()
    p.write(b"X" + struct.pack("<I", len(a)) + a)  # BINUNICODE
    p.write(b"\x85")  # TUPLE1
    p.write(b"R")  # REDUCE
    p.write(b".")  # STOP
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", p.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.save(state_dict(), os.path.join(OUT, "state_dict.pt"))
    deflate(os.path.join(OUT, "state_dict.pt"), os.path.join(OUT, "state_dict_deflated.pt"))
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.SiLU())
    m[1].running_mean.uniform_(-1, 1)
    m[1].running_var.uniform_(0.5, 2)
    m[1].num_batches_tracked.fill_(5)
    torch.save(m, os.path.join(OUT, "module.pt"))
    try:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(OUT, "module_state.safetensors"))
    except ImportError:
        print("safetensors is not installed: module_state.safetensors not written", file=sys.stderr)
    cmd = "touch " + SENTINEL
    evil(os.path.join(OUT, "evil_system.pt"), "os", "system", cmd)
    evil(os.path.join(OUT, "evil_eval.pt"), "builtins", "eval", "__import__('os').system('%s')" % cmd)
    # check with PyTorch itself that the benign files load as written
    sd = torch.load(os.path.join(OUT, "state_dict_deflated.pt"), weights_only=True)
    assert torch.equal(sd["view_t"], state_dict()["view_t"])
    for f in sorted(os.listdir(OUT)):
        print("%-28s %8d bytes" % (f, os.path.getsize(os.path.join(OUT, f))))


if __name__ == "__main__":
    main()
