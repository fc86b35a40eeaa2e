#!/usr/bin/env python3
"""ONNX parity fixture for yoloc's YOLOv5 (optional tool; never needed to
build or test yoloc).

Runs the official yolov5n.onnx (../shared/data/weights, exported from the
v6.1 yolov5n.pt) with OpenCV's DNN module (python3-opencv; onnxruntime is
used as a second opinion when installed) on one coco128 image letterboxed as
YOLOv5 does (640x640, pad 114, centred; the image is 640x480, so the
letterbox only pads and no resize implementation enters the comparison),
and writes the fixture tests/nn/test_yolov5.c compares with:

  tests/nn/fixtures/v5_onnx.json      image, letterbox, input checksums, shapes
  tests/nn/fixtures/v5_onnx_rows.npy  [R, 86] float32: row index into output0
                                      [25200, 85], then the row (cx, cy, w, h,
                                      objectness, 80 class probabilities); the
                                      60 most confident rows and 60 random ones
  tests/nn/fixtures/v5_onnx_raw.npy   [K, 5] float32: level, channel, y, x and
                                      the value of the three Detect
                                      convolutions' outputs [1, 255, H, W]
                                      (before the sigmoid), K random entries

  check : also runs `yoloc forward` on the same input and compares yoloc's
          whole eval output (box, objectness x class) with output0.

usage: make_v5_fixture.py fixture [--weights-dir ../shared/data/weights]
       make_v5_fixture.py check --yoloc build/yoloc
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "..", "shared", "data")
IMAGE = "coco128/images/val/000000001000.jpg"
FIX = os.path.join(ROOT, "tests", "nn", "fixtures")


def letterbox(img, size=640, color=114):
    """YOLOv5 utils/augmentations.letterbox(auto=False, scaleup=True)."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw) / 2, (size - nh) / 2
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 3)
    return img, r, left, top


def load_input(path):
    bgr = cv2.imread(path)
    if bgr is None:
        sys.exit(f"cannot read {path}")
    lb, r, left, top = letterbox(bgr)
    rgb = lb[:, :, ::-1]
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1))[None].astype(np.float32) / 255.0
    return rgb, x, r, left, top


def run_onnx(onnx_path, x):
    net = cv2.dnn.readNetFromONNX(onnx_path)
    convs = [f"onnx_node!/model.24/m.{l}/Conv" for l in range(3)]
    out_name = net.getUnconnectedOutLayersNames()[0]
    net.setInput(x)
    outs = net.forward([out_name] + convs)
    return outs[0][0], outs[1:]


def decode(raws, anchors_px, strides, na=3):
    """YOLOv5's Detect decode in numpy (a check of the fixture itself)."""
    rows = []
    for l, (r, s) in enumerate(zip(raws, strides)):
        _, c, h, w = r.shape
        no = c // na
        y = 1 / (1 + np.exp(-r[0].reshape(na, no, h, w).transpose(0, 2, 3, 1).astype(np.float64)))
        gy, gx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        y[..., 0] = (y[..., 0] * 2 - 0.5 + gx) * s
        y[..., 1] = (y[..., 1] * 2 - 0.5 + gy) * s
        y[..., 2] = (y[..., 2] * 2) ** 2 * anchors_px[l][:, 0][:, None, None]
        y[..., 3] = (y[..., 3] * 2) ** 2 * anchors_px[l][:, 1][:, None, None]
        rows.append(y.reshape(-1, no))
    return np.concatenate(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fixture", "check"])
    ap.add_argument("--weights-dir", default=os.path.join(DATA, "weights"))
    ap.add_argument("--yoloc", default=os.path.join(ROOT, "build", "yoloc"))
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.weights_dir, "yolov5n.json")))
    anchors_px = np.array(meta["anchors_pixels"], dtype=np.float64)
    strides = meta["stride"]
    rgb, x, r, left, top = load_input(os.path.join(DATA, IMAGE))
    out0, raws = run_onnx(os.path.join(a.weights_dir, "yolov5n.onnx"), x)
    print(f"output0 {out0.shape}, raw {[t.shape for t in raws]}")
    dec = decode(raws, anchors_px, strides)
    print(f"numpy decode of the raw outputs vs output0: max |diff| {np.abs(dec - out0).max():.3g}")
    try:
        import onnxruntime as ort

        s = ort.InferenceSession(os.path.join(a.weights_dir, "yolov5n.onnx"), providers=["CPUExecutionProvider"])
        o = s.run(None, {"images": x})[0][0]
        print(f"onnxruntime vs OpenCV DNN: max |diff| {np.abs(o - out0).max():.3g}")
    except ImportError:
        print("onnxruntime not installed: OpenCV DNN only")

    if a.mode == "check":
        with tempfile.TemporaryDirectory() as t:
            np.save(os.path.join(t, "x.npy"), x)
            cmd = [a.yoloc, "forward", "model=yolov5n.yaml", f"weights={os.path.join(a.weights_dir, 'yolov5n.safetensors')}",
                   f"input={t}/x.npy", f"out={t}/y.npy"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            y = np.load(os.path.join(t, "y.npy"))[0].T  # [A, 4+nc]
        want = np.concatenate([out0[:, :4], out0[:, 5:] * out0[:, 4:5]], 1)
        d = np.abs(y - want)
        rel = d / (np.abs(want) + 1e-4)
        print(f"yoloc eval output vs ONNX (box, obj x cls), all {y.shape[0]} rows: max |diff| {d.max():.3g}, "
              f"boxes {d[:, :4].max():.3g} px, scores {d[:, 4:].max():.3g}, max rel {rel.max():.3g}")
        return

    os.makedirs(FIX, exist_ok=True)
    rng = np.random.default_rng(0)
    top_rows = np.argsort(-out0[:, 4], kind="stable")[:60]
    rand_rows = rng.choice(np.setdiff1d(np.arange(out0.shape[0]), top_rows), 60, replace=False)
    idx = np.concatenate([top_rows, np.sort(rand_rows)])
    rows = np.concatenate([idx[:, None].astype(np.float32), out0[idx]], 1).astype(np.float32)
    np.save(os.path.join(FIX, "v5_onnx_rows.npy"), rows)
    raw = []
    for l, t in enumerate(raws):
        _, c, h, w = t.shape
        for _ in range(400):
            ch, yy, xx = rng.integers(c), rng.integers(h), rng.integers(w)
            raw.append([l, ch, yy, xx, t[0, ch, yy, xx]])
    np.save(os.path.join(FIX, "v5_onnx_raw.npy"), np.array(raw, dtype=np.float32))
    flat = rgb.reshape(-1).astype(np.float64)
    info = {
        "generator": "tools/make_v5_fixture.py fixture",
        "onnx": "yolov5n.onnx (yolov5 v7.0 export of the v6.1 yolov5n.pt, opset 12)",
        "runtime": f"OpenCV {cv2.__version__} dnn",
        "image": IMAGE,
        "imgsz": 640,
        "letterbox": {"ratio": r, "left": left, "top": top, "pad": 114},
        "input_sum": float(flat.sum()),
        "input_wsum": float((flat * (np.arange(flat.size) % 251)).sum()),
        "output0_shape": list(out0.shape),
        "raw_shapes": [list(t.shape) for t in raws],
        "rows": "v5_onnx_rows.npy",
        "raw": "v5_onnx_raw.npy",
    }
    with open(os.path.join(FIX, "v5_onnx.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {FIX}/v5_onnx.json, v5_onnx_rows.npy {rows.shape}, v5_onnx_raw.npy ({len(raw)} entries)")


if __name__ == "__main__":
    main()
