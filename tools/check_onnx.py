#!/usr/bin/env python3
"""Checks an ONNX file written by `yoloc export` (optional tool).

Needs numpy; `check` also needs onnx, onnxruntime and (for --runtimes cv2)
OpenCV's Python module (Debian: apt-get install python3-numpy python3-opencv;
/usr/bin/python3 -m pip install --break-system-packages onnx onnxruntime).
Never needed to build or test yoloc: tests/io/test_onnx_export.sh skips
(exit 77) when a module is missing.

  inputs  : writes seeded random images [B, 3, H, W] in [0, 1) as .npy.
  perturb : rewrites a yoloc .safetensors with seeded random weights and
            BatchNorm statistics of realistic size. A freshly initialised
            model's output hardly depends on its weights or its input (the
            Detect bias initialisation dominates: constant boxes, scores near
            1e-5), so a parity check on it proves little; on perturbed
            weights boxes and scores vary with the input and every folded
            BatchNorm matters.
  check   : onnx.checker.check_model(full_check=True); the graph's interface
            (images -> output0, static or symbolic dimensions, element type),
            opset 13-17, only operators TensorRT's ONNX parser supports, the
            Ultralytics metadata (names, stride, imgsz, task, batch, args)
            parsed as AutoBackend parses it; then runs each input through
            each runtime and compares with the expected output (`yoloc
            forward`), printing the worst difference per run.
            The error checked is relative to each row's range: box
            coordinates (pixels, in [0, imgsz]) as |diff| / imgsz, scores
            (in [0, 1]) as |diff|. Also printed, not checked: the largest
            |diff| / max(|value|, 1) per element, which for a coordinate
            near 0 is an absolute error in pixels; on it yoloc's own two
            backends (oneDNN and the plain C reference) differ by up to
            ~4e-4 on a trained model (float32 rounding through ~60 layers).

usage: check_onnx.py inputs DIR --shape B,3,H,W [--count 3] [--seed 0] [--prefix in]
       check_onnx.py perturb IN.safetensors OUT.safetensors [--seed 0]
       check_onnx.py check MODEL.onnx IN.npy:EXPECTED.npy ... [--runtimes ort,cv2]
                     [--tol 1e-4] [--nc N] [--dynamic] [--half]
exit: 0 all passed, 1 a check failed, 2 usage, 77 a needed module is missing.
"""
import argparse
import ast
import json
import os
import struct
import sys

SKIP = 77

# Operators TensorRT's ONNX parser supports (onnx-tensorrt docs/operators.md,
# TensorRT 8.x) that the exporter may write; anything else is a failure.
TRT_OPS = {"Add", "Cast", "Concat", "Conv", "Div", "Gather", "MaxPool", "Mul", "Range", "Reshape",
           "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sub", "Transpose", "Unsqueeze"}


def need(*modules):
    """Imports the modules or exits 77 naming the first one missing."""
    out = []
    for name in modules:
        try:
            out.append(__import__(name))
        except Exception as ex:  # ImportError, or a module broken by its own dependencies
            print(f"skipped: Python module '{name}' is not usable ({ex.__class__.__name__}: {ex})")
            sys.exit(SKIP)
    return out


def cmd_inputs(a):
    (np,) = need("numpy")
    shape = tuple(int(v) for v in a.shape.split(","))
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    for k in range(a.count):
        x = rng.random(shape, dtype=np.float32)
        np.save(os.path.join(a.dir, f"{a.prefix}{k}.npy"), x)
    return 0


def cmd_perturb(a):
    (np,) = need("numpy")
    data = bytearray(open(a.src, "rb").read())
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    rng = np.random.default_rng(a.seed)
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        if t["dtype"] != "F32" or ".dfl." in name or name.startswith("train."):
            continue  # the DFL weights stay 0..15; checkpoint state is not a weight
        b, e = t["data_offsets"]
        shape = tuple(t["shape"])
        n = int(np.prod(shape)) if shape else 1
        if name.endswith("bn.weight"):
            v = rng.uniform(0.5, 1.5, n)
        elif name.endswith("bn.running_var"):
            v = rng.uniform(0.5, 2.0, n)
        elif name.endswith(("bn.bias", "bn.running_mean")):
            v = rng.normal(0.0, 0.2, n)
        elif len(shape) == 4:  # convolution weights: He-normal keeps activations O(1)
            fan_in = int(np.prod(shape[1:]))
            v = rng.normal(0.0, (2.0 / fan_in) ** 0.5, n)
        else:  # Detect's last biases: boxes around 1, class logits spread over (-4, 0)
            v = rng.normal(-2.0, 1.0, n) if ".cv3." in name else rng.normal(1.0, 0.5, n)
        data[base + b:base + e] = v.astype("<f4").tobytes()
    open(a.dst, "wb").write(bytes(data))
    return 0


def errors(a, b, imgsz, np):
    """max |a - b|; the error checked (box rows over the image size, score
    rows absolute); and max |a - b| / max(|b|, 1) for information."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    scale = np.ones(b.shape[1])[None, :, None]
    scale[0, :4, 0] = imgsz
    return float(d.max()), float((d / scale).max()), float((d / np.maximum(np.abs(b.astype(np.float64)), 1.0)).max())


def cmd_check(a):
    np, onnx = need("numpy", "onnx")
    failures = []

    def fail(msg):
        print("FAIL " + msg)
        failures.append(msg)

    model = onnx.load(a.model)
    try:
        onnx.checker.check_model(model, full_check=True)
        print(f"ok   onnx.checker.check_model(full_check=True): IR {model.ir_version}, "
              f"opset {[o.version for o in model.opset_import]}")
    except Exception as ex:
        fail(f"onnx.checker: {ex}")
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if len(opsets) != 1 or not 13 <= opsets[0] <= 17:
        fail(f"opset {opsets}, expected one in 13..17")
    ops = sorted({n.op_type for n in model.graph.node})
    if set(ops) - TRT_OPS:
        fail(f"operators outside the TensorRT list: {sorted(set(ops) - TRT_OPS)}")
    else:
        print(f"ok   operators {ops}")

    g = model.graph
    init = {t.name for t in g.initializer}
    ins = [i for i in g.input if i.name not in init]
    elem = onnx.TensorProto.FLOAT16 if a.half else onnx.TensorProto.FLOAT

    def dims(vi):
        return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in vi.type.tensor_type.shape.dim]

    if [i.name for i in ins] != ["images"] or [o.name for o in g.output] != ["output0"]:
        fail(f"interface {[i.name for i in ins]} -> {[o.name for o in g.output]}, expected ['images'] -> ['output0']")
    else:
        di, do = dims(ins[0]), dims(g.output[0])
        types = (ins[0].type.tensor_type.elem_type, g.output[0].type.tensor_type.elem_type)
        sym = [d for d in di + do if isinstance(d, str)]
        if types != (elem, elem):
            fail(f"element types {types}, expected {elem}")
        elif a.dynamic and (di[0] != "batch" or di[2:] != ["height", "width"] or do[0] != "batch" or do[2] != "anchors"):
            fail(f"dynamic export with dims {di} -> {do}")
        elif not a.dynamic and sym:
            fail(f"static export with symbolic dims {di} -> {do}")
        else:
            print(f"ok   images {di} -> output0 {do}")

    meta = {p.key: p.value for p in model.metadata_props}
    try:  # as Ultralytics' AutoBackend reads it
        stride, batch = int(meta["stride"]), int(meta["batch"])
        imgsz = ast.literal_eval(meta["imgsz"])
        names = ast.literal_eval(meta["names"])
        args = ast.literal_eval(meta["args"])
        ok = (meta["task"] == "detect" and stride in (32, 64) and batch >= 1 and len(imgsz) == 2
              and isinstance(names, dict) and sorted(names) == list(range(len(names)))
              and all(isinstance(v, str) for v in names.values())
              and args.get("dynamic") == a.dynamic and args.get("half") == a.half and meta.get("yoloc_version"))
        if a.nc and len(names) != a.nc:
            ok = False
        if ok:
            print(f"ok   metadata: stride {stride}, batch {batch}, imgsz {imgsz}, {len(names)} names, args {args}, "
                  f"yoloc {meta['yoloc_version']}")
        else:
            fail(f"metadata {meta}")
    except Exception as ex:
        fail(f"metadata {meta}: {ex.__class__.__name__}: {ex}")

    runtimes = [r for r in a.runtimes.split(",") if r]
    for rt in runtimes:
        try:
            if rt == "ort":
                (ort,) = need("onnxruntime")
                sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])

                def run(x, sess=sess):
                    return sess.run(["output0"], {"images": x})[0]
            elif rt == "cv2":
                (cv2,) = need("cv2")
                net = cv2.dnn.readNetFromONNX(a.model)

                def run(x, net=net):
                    net.setInput(x)
                    return net.forward()
            else:
                print(f"unknown runtime '{rt}'")
                return 2
        except Exception as ex:
            fail(f"{rt} cannot load {a.model}: {' '.join(str(ex).split())[:300]}")
            continue
        for pair in a.pairs:
            xin, yexp = pair.split(":")
            x, y = np.load(xin), np.load(yexp)
            if a.half:
                x = x.astype(np.float16)
            try:
                o = np.asarray(run(x))
            except Exception as ex:
                fail(f"{rt} {os.path.basename(xin)}: {' '.join(str(ex).split())[:300]}")
                continue
            if o.shape != y.shape:
                fail(f"{rt} {os.path.basename(xin)}: output shape {o.shape}, yoloc {y.shape}")
                continue
            mx, rel, elem = errors(o, y, max(x.shape[2:]), np)
            line = (f"{rt:4} {os.path.basename(xin)} {list(x.shape)}: max |diff| {mx:.3g}, error {rel:.3g} "
                    f"(tol {a.tol:g}; per element {elem:.3g})")
            if not np.isfinite(o).all() or rel > a.tol:
                fail(line)
            else:
                print("ok   " + line)
    print(f"{'FAILED' if failures else 'passed'}: {a.model} ({len(failures)} failures)")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("inputs")
    q.add_argument("dir")
    q.add_argument("--shape", required=True)
    q.add_argument("--count", type=int, default=3)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--prefix", default="in")
    q = sub.add_parser("perturb")
    q.add_argument("src")
    q.add_argument("dst")
    q.add_argument("--seed", type=int, default=0)
    q = sub.add_parser("check")
    q.add_argument("model")
    q.add_argument("pairs", nargs="+", help="IN.npy:EXPECTED.npy")
    q.add_argument("--runtimes", default="ort,cv2")
    q.add_argument("--tol", type=float, default=1e-4)
    q.add_argument("--nc", type=int, default=0)
    q.add_argument("--dynamic", action="store_true")
    q.add_argument("--half", action="store_true")
    a = p.parse_args()
    return {"inputs": cmd_inputs, "perturb": cmd_perturb, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
