#!/usr/bin/env python3
"""An Ultralytics checkpoint made by Ultralytics itself, for tests/train/test_pt_weights.c.

Trains a tiny model of the trainer tests (--model yolov8t: tests/train/yolov8t.yaml, width 1/16;
--model yolo11t: tests/train/yolo11t.yaml, width 1/8) with Ultralytics' own trainer on BCCD
(../shared/data/bccd: 3 classes) for a few epochs at 160 px on the CPU, then (MODEL: the --model):
  tests/train/fixtures/pt/MODEL_bccd.pt    Ultralytics' best.pt (fp16 weights, 'model' entry,
                                           train_args, the model's YAML dict and names)
  tests/train/fixtures/pt/MODEL_bccd.json  what yoloc must reproduce from that file:
      - "tensors": per state-dict tensor, its shape and the float64 sum and sum of squares of its
        values (as stored, fp16 -> float), so a reader's mapping and conversion are checked;
      - "val": Ultralytics' `val` of best.pt on BCCD val (imgsz 160, batch 16, conf 0.001, iou 0.7):
        mAP50 and mAP50-95, the figures `yoloc val model=yolov8t_bccd.pt` must give within 0.002;
      - "predict": Ultralytics' predict of BCCD val BloodImage_00000.jpg (imgsz 160, conf 0.25): per box
        "class x y w h conf" (normalised, as the lines `yoloc predict ... save_txt=True` writes);
      - "forward": the eval output of the fp32 model on a fixed input (1x3x160x160,
        x[c, y, x] = ((7c + 13y + 29x) mod 97) / 96, a formula the test computes too), its first 64
        values and the sum of its absolute values.

Needs PyTorch and ultralytics==8.3.253 (pip install torch ultralytics==8.3.253 in a venv).
Usage: python tools/make_ultralytics_ckpt.py [--model yolov8t|yolo11t] [--epochs 60] [--reuse]
       (--reuse: keep the .pt, redo the JSON)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import torch

from pt_fixture import forward_summary, tensor_sums

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "train", "fixtures", "pt")
BCCD = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "bccd"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["yolov8t", "yolo11t"], default="yolov8t")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args()
    import ultralytics
    from ultralytics import YOLO

    assert ultralytics.__version__.startswith("8.3."), ultralytics.__version__
    if not os.path.isdir(BCCD):
        sys.exit("no BCCD at %s" % BCCD)
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="yoloc_ul_")
    data = os.path.join(work, "bccd.yaml")
    with open(data, "w") as f:
        f.write("path: %s\ntrain: images/train\nval: images/val\nnames:\n  0: RBC\n  1: WBC\n  2: Platelets\n" % BCCD)
    cfg = os.path.join(work, a.model + ".yaml")
    shutil.copy(os.path.join(ROOT, "tests", "train", a.model + ".yaml"), cfg)
    dst = os.path.join(OUT, a.model + "_bccd.pt")
    if not a.reuse:
        model = YOLO(cfg)
        model.train(data=data, epochs=a.epochs, imgsz=160, batch=16, workers=0, device="cpu", seed=0,
                    deterministic=True, plots=False, project=work, name="run", exist_ok=True, amp=False,
                    verbose=False)
        shutil.copy(os.path.join(work, "run", "weights", "best.pt"), dst)

    ck = torch.load(dst, map_location="cpu", weights_only=False)
    m = (ck.get("ema") or ck["model"]).float().eval()
    tensors = tensor_sums(m)
    forward = forward_summary(m)
    r = YOLO(dst).val(data=data, imgsz=160, batch=16, conf=0.001, iou=0.7, device="cpu", plots=False,
                      project=work, name="val", exist_ok=True, verbose=False)
    img = os.path.join(BCCD, "images", "val", "BloodImage_00000.jpg")
    p = YOLO(dst).predict(img, imgsz=160, conf=0.25, iou=0.7, device="cpu", verbose=False)[0].boxes
    pred = ["%d %s %.6f" % (int(c), " ".join("%.6f" % v for v in b), cf)
            for c, b, cf in zip(p.cls.tolist(), p.xywhn.tolist(), p.conf.tolist())]
    out = {
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "epochs": ck.get("train_args", {}).get("epochs"),
        "parameters": sum(p.numel() for p in m.parameters()),
        "tensors": tensors,
        "val": {"imgsz": 160, "batch": 16, "conf": 0.001, "iou": 0.7, "map50": float(r.box.map50),
                "map50_95": float(r.box.map)},
        "predict": {"image": "images/val/BloodImage_00000.jpg", "imgsz": 160, "conf": 0.25, "iou": 0.7,
                    "boxes": pred},
        "forward": forward,
    }
    with open(os.path.join(OUT, a.model + "_bccd.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote %s (%d bytes); val mAP50 %.4f mAP50-95 %.4f" % (dst, os.path.getsize(dst), out["val"]["map50"],
                                                                 out["val"]["map50_95"]))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
