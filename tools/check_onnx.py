#!/usr/bin/env python3
"""Checks an ONNX file written by `yoloc export` (optional tool).

Needs numpy; `check` also needs onnx, onnxruntime and (for --runtimes cv2)
OpenCV's Python module (Debian: apt-get install python3-numpy python3-opencv;
/usr/bin/python3 -m pip install --break-system-packages onnx onnxruntime).
Never needed to build or test yoloc: tests/io/test_onnx_export.sh skips
(exit 77) when a module is missing.

  inputs  : writes seeded random images [B, 3, H, W] in [0, 1) as .npy.
  letterbox: writes images (one per batch entry) letterboxed as YOLOv5 and
            Ultralytics do for inference: resized to fit SIZE x SIZE keeping
            the aspect ratio (bilinear), padded evenly with 114, RGB in
            [0, 1], [B, 3, SIZE, SIZE] float32 .npy (needs cv2).
  reference: runs a reference .onnx (e.g. the official yolov5n.onnx) through
            ONNX Runtime and writes its output0 as .npy. A model with a
            static input shape is run image by image when the batch differs;
            when the image size differs too (a static YOLOv5 export's decode
            holds 640-sized grids), the graph is cut after the Detect head's
            per-level 1x1 convolutions (all that precedes them is fully
            convolutional) and YOLOv5's decode is done here in numpy with the
            anchors (pixels) and strides of --meta JSON (anchors_pixels,
            stride: the sidecar of the official weights); --cut does so
            whatever the size (to check this decode against the graph's).
            --round-half rounds the reference's float weights and the input
            to float16 first (arithmetic stays float32): the reference for a
            half export of the same weights, whose difference from the
            float32 output is mostly that rounding, not the graph.
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
            --layout v5: the file is a YOLOv5 export, output0 [B, A, 5+nc]
            (box, objectness, class probabilities); an expected array of
            that shape (a reference model's output) is compared as it is,
            one of `yoloc forward`'s shape [B, 4+nc, A] (box, objectness x
            class probability) against the ONNX output brought to it.
            The error checked is relative to each row's range: box
            coordinates (pixels, in [0, imgsz]) as |diff| / imgsz, scores
            (in [0, 1]) as |diff|. Also printed, not checked: the largest
            |diff| / max(|value|, 1) per element, which for a coordinate
            near 0 is an absolute error in pixels; on it yoloc's own two
            backends (oneDNN and the plain C reference) differ by up to
            ~4e-4 on a trained model (float32 rounding through ~60 layers).
            --metric element checks that per-element error instead (relative,
            absolute for values below 1).

usage: check_onnx.py inputs DIR --shape B,3,H,W [--count 3] [--seed 0] [--prefix in]
       check_onnx.py letterbox OUT.npy IMAGE [IMAGE ...] [--size 640]
       check_onnx.py reference REF.onnx IN.npy OUT.npy [--meta W.json] [--cut] [--round-half]
       check_onnx.py perturb IN.safetensors OUT.safetensors [--seed 0]
       check_onnx.py check MODEL.onnx IN.npy:EXPECTED.npy ... [--runtimes ort,cv2]
                     [--tol 1e-4] [--nc N] [--dynamic] [--half] [--layout v8|v5]
                     [--metric image|element]
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
TRT_OPS = {"Add", "Cast", "Concat", "Conv", "Div", "Gather", "MatMul", "MaxPool", "Mul", "Range", "Reshape",
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


def cmd_letterbox(a):
    np, cv2 = need("numpy", "cv2")
    out = []
    for path in a.images:
        im = cv2.imread(path)
        if im is None:
            print(f"{path}: cannot read the image")
            return 1
        h, w = im.shape[:2]
        r = min(a.size / h, a.size / w)
        nw, nh = int(round(w * r)), int(round(h * r))
        if (nw, nh) != (w, h):
            im = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR)
        dw, dh = (a.size - nw) / 2, (a.size - nh) / 2
        im = cv2.copyMakeBorder(im, int(round(dh - 0.1)), int(round(dh + 0.1)), int(round(dw - 0.1)),
                                int(round(dw + 0.1)), cv2.BORDER_CONSTANT, value=(114, 114, 114))
        out.append(im[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0)  # BGR HWC -> RGB CHW
    np.save(a.out, np.ascontiguousarray(np.stack(out)))
    return 0


def v5_decode(levels, anchors, strides, np):
    """YOLOv5's Detect decode (export mode) of the per-level 1x1 conv outputs
    [B, na*no, H, W] -> [B, A, no] (float32, YOLOv5's order of operations)."""
    out = []
    for l, p in enumerate(levels):
        b, _, h, w = p.shape
        na = len(anchors[l])
        no = p.shape[1] // na
        s = 1.0 / (1.0 + np.exp(-p.reshape(b, na, no, h, w).transpose(0, 1, 3, 4, 2).astype(np.float32)))
        yv, xv = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        grid = (np.stack((xv, yv), 2)[None, None] - np.float32(0.5)).astype(np.float32)
        ag = (np.asarray(anchors[l], dtype=np.float32) / np.float32(strides[l]) * np.float32(strides[l]))
        xy = (s[..., :2] * np.float32(2) + grid) * np.float32(strides[l])
        wh = (s[..., 2:4] * np.float32(2)) ** 2 * ag.reshape(1, na, 1, 1, 2)
        out.append(np.concatenate((xy, wh, s[..., 4:]), 4).reshape(b, -1, no))
    return np.concatenate(out, 1)


def cmd_reference(a):
    np, onnx, ort = need("numpy", "onnx", "onnxruntime")
    x = np.load(a.input)
    model = onnx.load(a.model)
    if a.round_half:  # float32 arithmetic on float16 weights and input
        from onnx import numpy_helper
        for t in model.graph.initializer:
            if t.data_type == onnx.TensorProto.FLOAT:
                t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16).astype(np.float32), t.name))
        x = x.astype(np.float16).astype(np.float32)
    init = {t.name for t in model.graph.initializer}
    inp = [i for i in model.graph.input if i.name not in init][0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    if not a.cut and dims[2:] in ([None, None], list(x.shape[2:])):
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        if dims[0] in (None, x.shape[0]):
            y = sess.run(["output0"], {inp.name: x})[0]
        else:  # a static batch of 1: image by image
            y = np.concatenate([sess.run(["output0"], {inp.name: x[k:k + 1]})[0] for k in range(x.shape[0])])
        np.save(a.output, y)
        print(f"{a.model}: {list(x.shape)} -> {list(y.shape)}")
        return 0
    if not a.meta:
        print(f"{a.model} takes {dims}, the input is {list(x.shape)}: cutting the graph needs --meta")
        return 2
    meta = json.load(open(a.meta))
    anchors, strides = meta["anchors_pixels"], meta["stride"]
    # the Detect convolutions: Conv -> Reshape -> Transpose(perm 0,1,3,4,2)
    users = {}
    for n in model.graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    heads = []
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        r = users.get(n.output[0], [])
        if len(r) == 1 and r[0].op_type == "Reshape":
            t = users.get(r[0].output[0], [])
            if len(t) == 1 and t[0].op_type == "Transpose" and \
                    list(onnx.helper.get_attribute_value(t[0].attribute[0])) == [0, 1, 3, 4, 2]:
                heads.append(n.output[0])
    if len(heads) != len(anchors):
        print(f"{a.model}: found {len(heads)} Detect convolutions, --meta has {len(anchors)} levels")
        return 1
    g = model.graph
    for d in inp.type.tensor_type.shape.dim:  # fully convolutional up to the heads: free the input shape
        d.ClearField("dim_value")
        d.dim_param = "d"
    need_t, keep = set(heads), []
    for n in reversed(list(g.node)):  # the nodes the heads depend on
        if any(o in need_t for o in n.output):
            keep.append(n)
            need_t.update(n.input)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    del g.output[:]
    g.output.extend(onnx.helper.make_empty_tensor_value_info(h) for h in heads)
    del g.value_info[:]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = v5_decode(sess.run(heads, {inp.name: x}), anchors, strides, np)
    np.save(a.output, y)
    print(f"{a.model} (cut after the Detect convolutions, decoded here): {list(x.shape)} -> {list(y.shape)}")
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
        if t["dtype"] != "F32" or ".dfl." in name or name.startswith("train.") or name.endswith(".anchors"):
            continue  # the DFL weights stay 0..15, v5 anchors as they are; checkpoint state is not a weight
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


def errors(a, b, imgsz, np, rows_last=False):
    """max |a - b|; the error checked (box rows over the image size, score
    rows absolute); and max |a - b| / max(|b|, 1) for information.
    rows_last: the box and scores along the last axis ([B, A, 5+nc])."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    if rows_last:
        scale = np.ones(b.shape[2])[None, None, :]
        scale[0, 0, :4] = imgsz
    else:
        scale = np.ones(b.shape[1])[None, :, None]
        scale[0, :4, 0] = imgsz
    return float(d.max()), float((d / scale).max()), float((d / np.maximum(np.abs(b.astype(np.float64)), 1.0)).max())


def v5_as_forward(o, np):
    """A YOLOv5 output0 [B, A, 5+nc] as `yoloc forward` writes the eval
    output: [B, 4+nc, A], box then objectness x class probability."""
    o = o.astype(np.float32)
    return np.concatenate((o[..., :4], o[..., 5:] * o[..., 4:5]), 2).transpose(0, 2, 1)


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
        elif a.dynamic and (di[0] != "batch" or di[2:] != ["height", "width"] or do[0] != "batch"
                            or do[1 if a.layout == "v5" else 2] != "anchors"):
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
            rows_last = False
            if a.layout == "v5" and o.ndim == 3:
                if o.shape == y.shape:  # a reference model's output0
                    rows_last = True
                elif y.shape == (o.shape[0], o.shape[2] - 1, o.shape[1]):  # `yoloc forward`
                    o = v5_as_forward(o, np)
            if o.shape != y.shape:
                fail(f"{rt} {os.path.basename(xin)}: output shape {o.shape}, expected {y.shape}")
                continue
            mx, rel, elem = errors(o, y, max(x.shape[2:]), np, rows_last)
            if a.metric == "element":
                line = (f"{rt:4} {os.path.basename(xin)} {list(x.shape)}: max |diff| {mx:.3g}, error per element "
                        f"{elem:.3g} (tol {a.tol:g}; relative to the image size {rel:.3g})")
                rel = elem
            else:
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
    q = sub.add_parser("letterbox")
    q.add_argument("out")
    q.add_argument("images", nargs="+")
    q.add_argument("--size", type=int, default=640)
    q = sub.add_parser("reference")
    q.add_argument("model")
    q.add_argument("input")
    q.add_argument("output")
    q.add_argument("--meta", default="")
    q.add_argument("--cut", action="store_true", help="cut and decode here even when the shape fits")
    q.add_argument("--round-half", action="store_true", help="round the weights and input to float16 first")
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
    q.add_argument("--layout", choices=("v8", "v5"), default="v8")
    q.add_argument("--metric", choices=("image", "element"), default="image")
    a = p.parse_args()
    return {"inputs": cmd_inputs, "letterbox": cmd_letterbox, "reference": cmd_reference, "perturb": cmd_perturb,
            "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
