#!/usr/bin/env python3
"""A YOLOv5-repository checkpoint, pickled by the ultralytics/yolov5 code itself, for test_pt_weights.c.

    python tools/make_yolov5_ckpt.py /path/to/yolov5-checkout

Builds the repository's models/yolov5n.yaml at width 1/16 (3 classes) with its own Model class
(models.yolo.DetectionModel: C3, SPPF, the anchor-based Detect with its `anchors` buffer in grid
units), random weights from seed 0 and random BatchNorm statistics, and saves it the way the
repository's train.py saves a checkpoint: {'epoch', 'best_fitness', 'model': deepcopy(model).half(),
'ema': None, 'updates', 'optimizer': None, 'opt': {...}, 'git', 'date'}. Writes
  tests/train/fixtures/pt/yolov5t_repo.pt
  tests/train/fixtures/pt/yolov5t_repo.json  per-tensor shape, float64 sum and sum of squares of the
      state dict (fp16 as stored), and the eval output (the decoded [1, A, 5+nc]: xywh pixels,
      objectness and class probabilities) of the fp32 model on the fixed input
      x[c, y, x] = ((7c + 13y + 29x) mod 97) / 96 at 160x160: first 64 values and sum of |values|.
Needs PyTorch (and the repository's own requirements: numpy, opencv, pyyaml, pandas, ...).
"""
import copy
import datetime
import json
import os
import sys

import torch

from pt_fixture import forward_summary, tensor_sums

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "train", "fixtures", "pt")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = os.path.abspath(sys.argv[1])
    sys.path.insert(0, repo)
    import yaml
    from models.yolo import Model

    with open(os.path.join(repo, "models", "yolov5n.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["width_multiple"] = 0.0625
    cfg["nc"] = 3
    torch.manual_seed(0)
    model = Model(cfg, ch=3, nc=3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(7)
    model.names = ["RBC", "WBC", "Platelets"]
    ckpt = {
        "epoch": -1,
        "best_fitness": None,
        "model": copy.deepcopy(model).half(),
        "ema": None,
        "updates": None,
        "optimizer": None,
        "opt": {"weights": "", "cfg": "yolov5t.yaml", "data": "bccd.yaml", "epochs": 3, "batch_size": 16, "imgsz": 160},
        "git": None,
        "date": datetime.datetime.now().isoformat(),
    }
    os.makedirs(OUT, exist_ok=True)
    dst = os.path.join(OUT, "yolov5t_repo.pt")
    torch.save(ckpt, dst)

    ck = torch.load(dst, map_location="cpu", weights_only=False)
    m = ck["model"].float().eval()
    out = {"tensors": tensor_sums(m), "forward": forward_summary(m)}
    with open(os.path.join(OUT, "yolov5t_repo.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote %s (%d bytes), %d tensors, output %s" % (dst, os.path.getsize(dst), len(out["tensors"]),
                                                            out["forward"]["shape"]))


if __name__ == "__main__":
    main()
