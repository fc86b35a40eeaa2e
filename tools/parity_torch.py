#!/usr/bin/env python3
"""Parity of yoloc's models (YOLOv8, YOLO11) with Ultralytics' PyTorch model (optional tool).

Needs PyTorch and ultralytics==8.3.253 (Debian: apt-get install python3-torch
python3-torchvision python3-opencv python3-matplotlib python3-yaml python3-pil
python3-tqdm python3-requests python3-psutil python3-pandas; then
/usr/bin/python3 -m pip install --no-deps --break-system-packages
ultralytics==8.3.253). Never needed to build or test yoloc.

  check   : yoloc forward (seeded weights, saved) vs the Ultralytics model
            loaded with the same weights: eval output, raw training output and
            every parameter gradient; prints the worst differences.
  fixture : the same for a tiny model of tests/nn/tiny_model.h (--which v8:
            TINY_YAML, tests/nn/fixtures/parity_tiny.json; --which yolo11:
            TINY11_YAML, parity_tiny11.json), writing PyTorch's outputs and,
            per parameter, the gradient norm and a few entries.

Gradients are compared relative to each tensor's largest entry, with a floor
of 1e-5 of the model's largest gradient: some gradients are zero in exact
arithmetic (a per-channel bias whose every path ends in a training-mode
BatchNorm, which removes it), and both frameworks give rounding noise there.

usage: parity_torch.py check [--yoloc build/yoloc] [--model yolov8n.yaml] [--nc 80]
                             [--imgsz 320] [--batch 2] [--seed 0]
       parity_torch.py fixture [--yoloc build/yoloc] [--which v8|yolo11]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The tiny model of tests/nn/test_parity.c (yolov8 at width 1/16).
TINY_YAML = """nc: 3
scales:
  t: [0.33, 0.0625, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]
  - [[15, 18, 21], 1, Detect, [nc]]
"""

# The tiny YOLO11 of tests/nn/test_parity.c (yolo11 at width 1/8: C2PSA keeps
# its one head of 64 channels; C3k2 with and without C3k blocks).
TINY11_YAML = """nc: 3
scales:
  t: [0.50, 0.125, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 2, C3k2, [256, False, 0.25]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 2, C3k2, [512, False, 0.25]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 2, C3k2, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 2, C3k2, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
  - [-1, 2, C2PSA, [1024]]
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 2, C3k2, [512, False]]
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 2, C3k2, [256, False]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 13], 1, Concat, [1]]
  - [-1, 2, C3k2, [512, False]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 10], 1, Concat, [1]]
  - [-1, 2, C3k2, [1024, True]]
  - [[16, 19, 22], 1, Detect, [nc]]
"""


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    types = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype=types[v["dtype"]]).reshape(v["shape"])
    return out


def build_torch(yaml_path, nc):
    from ultralytics.nn.tasks import DetectionModel
    m = DetectionModel(yaml_path, nc=nc, verbose=False)
    return m.float()


def run_yoloc(yoloc, args):
    r = subprocess.run([yoloc, "forward"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("yoloc forward failed: " + r.stderr)


def compare(model_yaml, nc, imgsz, batch, seed, yoloc, torch_yaml=None, scale_arg=None):
    """Returns (eval_yoloc, eval_torch, train_yoloc, train_torch, grads_yoloc, grads_torch, x)."""
    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 3, imgsz, imgsz), dtype=np.float32)
    np.save(f"{tmp}/x.npy", x)
    w = f"{tmp}/w.safetensors"
    margs = [f"model={model_yaml}", f"nc={nc}", f"input={tmp}/x.npy", f"seed={seed}"]
    run_yoloc(yoloc, margs + [f"out={tmp}/ye.npy", f"save_weights={w}"])
    # training forward first to learn the output shape, then with a gradient
    run_yoloc(yoloc, margs + [f"out={tmp}/yt.npy", "train=True"])
    yt = np.load(f"{tmp}/yt.npy")
    g = rng.standard_normal(yt.shape).astype(np.float32)
    np.save(f"{tmp}/g.npy", g)
    run_yoloc(yoloc, margs + [f"out={tmp}/yt.npy", "train=True", f"grad_in={tmp}/g.npy",
                              f"grads_out={tmp}/grads.safetensors"])
    ye, yt = np.load(f"{tmp}/ye.npy"), np.load(f"{tmp}/yt.npy")
    gy = read_safetensors(f"{tmp}/grads.safetensors")

    m = build_torch(torch_yaml or model_yaml, nc)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in read_safetensors(w).items()}
    missing, unexpected = m.load_state_dict(sd, strict=True), None
    del missing, unexpected
    xt = torch.from_numpy(x)
    m.eval()
    with torch.no_grad():
        te = m(xt)[0].numpy()
    m.train()
    for p in m.parameters():
        p.grad = None
    preds = m(xt)
    raw = torch.cat([p.view(p.shape[0], p.shape[1], -1) for p in preds], 2)
    (raw * torch.from_numpy(g)).sum().backward()
    tt = raw.detach().numpy()
    gt = {n: p.grad.numpy() for n, p in m.named_parameters() if p.grad is not None}
    return ye, te, yt, tt, gy, gt, x


def rel(a, b, floor=1e-12):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor))


def grad_rel(gy, gt):
    """Per tensor: max |diff| over max(largest |entry|, 1e-5 x the model's largest gradient)."""
    floor = 1e-5 * max(float(np.abs(v).max()) for v in gt.values())
    return {k: rel(gy[k], gt[k], floor) for k in gt if k in gy}


def cmd_check(a):
    ye, te, yt, tt, gy, gt, _ = compare(a.model, a.nc, a.imgsz, a.batch, a.seed, a.yoloc)
    print(f"eval output {ye.shape}: max |diff| {np.abs(ye - te).max():.3g} (rel {rel(ye, te):.3g})")
    print(f"train output {yt.shape}: max |diff| {np.abs(yt - tt).max():.3g} (rel {rel(yt, tt):.3g})")
    worst = sorted(((r, k) for k, r in grad_rel(gy, gt).items()), reverse=True)
    print(f"gradients: {len(gt)} tensors, worst relative differences:")
    for r, k in worst[:5]:
        print(f"  {k:45s} {r:.3g}")
    missing = [k for k in gt if k not in gy]
    bad = rel(ye, te) > 1e-4 or rel(yt, tt) > 1e-4 or worst[0][0] > 1e-3 or missing
    print("PARITY", "FAILED" if bad else "OK")
    return 1 if bad else 0


def cmd_fixture(a):
    tmp = tempfile.mkdtemp()
    v8 = a.which == "v8"
    # Ultralytics picks the scale from the file name: yolov8t.yaml -> "t"
    tpath = f"{tmp}/yolov8t.yaml" if v8 else f"{tmp}/yolo11t.yaml"
    with open(tpath, "w") as f:
        f.write(TINY_YAML if v8 else TINY11_YAML)
    ye, te, yt, tt, gy, gt, x = compare(tpath, 3, 64, 2, 0, a.yoloc)
    print(f"eval rel {rel(ye, te):.3g}, train rel {rel(yt, tt):.3g}, "
          f"worst grad rel {max(grad_rel(gy, gt).values()):.3g}")
    stem = "parity_tiny" if v8 else "parity_tiny11"
    grads = {}
    for k, v in gt.items():
        flat = v.ravel().astype(np.float64)
        idx = np.linspace(0, flat.size - 1, min(8, flat.size)).astype(int)
        grads[k] = {"norm": float(np.linalg.norm(flat)), "index": idx.tolist(),
                    "values": flat[idx].tolist()}
    out = {
        "generator": "tools/parity_torch.py fixture",
        "torch": torch.__version__,
        "ultralytics": __import__("ultralytics").__version__,
        "input": "numpy default_rng(0).random((2,3,64,64), float32)",
        "seed": 0,
        "eval_shape": list(te.shape),
        "eval": te.ravel().astype(np.float64).tolist(),
        "train_shape": list(tt.shape),
        "train_sample_index": np.linspace(0, tt.size - 1, 512).astype(int).tolist(),
        "grad_in": "numpy default_rng(0) after the input: standard_normal(train_shape), float32",
        "grads": grads,
    }
    out["train_sample"] = tt.ravel()[out["train_sample_index"]].astype(np.float64).tolist()
    out["grad_floor"] = 1e-5 * max(float(np.abs(v).max()) for v in gt.values())
    path = os.path.join(ROOT, f"tests/nn/fixtures/{stem}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
    # the input and grad_in arrays, so the C test needs no RNG of numpy's
    np.save(os.path.join(ROOT, f"tests/nn/fixtures/{stem}_x.npy"), x)
    rng = np.random.default_rng(0)
    rng.random((2, 3, 64, 64), dtype=np.float32)
    g = rng.standard_normal(tt.shape).astype(np.float32)
    np.save(os.path.join(ROOT, f"tests/nn/fixtures/{stem}_g.npy"), g)
    print("wrote", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["check", "fixture"])
    p.add_argument("--yoloc", default=os.path.join(ROOT, "build/yoloc"))
    p.add_argument("--model", default="yolov8n.yaml")
    p.add_argument("--nc", type=int, default=80)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--which", choices=["v8", "yolo11"], default="v8")
    a = p.parse_args()
    torch.set_num_threads(2)
    sys.exit(cmd_check(a) if a.mode == "check" else cmd_fixture(a))


if __name__ == "__main__":
    main()
