#!/usr/bin/env python3
"""Make the COCO-evaluation parity fixture for tests/eval/test_coco.c.

Writes into tests/eval/fixtures/ (or the folder given as argv[1]):
  coco_gt.json        COCO annotations: 9 images, 5 categories (ids 1 2 3 5 8;
                      5 has nothing, 8 has detections but no annotations),
                      small/medium/large boxes, crowd boxes, "area" fields that
                      differ from w*h (segmentation areas), an image without
                      annotations, non-contiguous image ids.
  coco_dt.json        results: jittered and duplicated ground truths, false
                      positives, scores on a 0.05 grid (ties), 150 detections
                      of one category in one image (> maxDets 100), an image
                      with annotations but no detections.
  coco_expected.json  pycocotools COCOeval(bbox) stats, per-category AP /
                      AP50 / AR100 (-1 when undefined), and the Ultralytics
                      8.3 validator metrics of the same data (crowd boxes
                      left out) computed with NumPy as the validator does.

Run once with numpy and pycocotools installed:
  pip install numpy pycocotools && python3 tools/make_coco_fixture.py
The C tests never need Python. Seeded: the output is the same every run for
the same numpy / pycocotools versions (recorded in coco_expected.json).
"""
import json
import os
import sys

import numpy as np
import pycocotools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "eval", "fixtures")
rng = np.random.default_rng(20240611)

CATS = [1, 2, 3, 5, 8]
NAMES = {1: "person", 2: "car", 3: "dog", 5: "empty", 8: "ghost"}
IMAGES = [(3, 640, 480), (7, 500, 375), (11, 640, 640), (12, 320, 240), (20, 800, 600),
          (21, 640, 480), (30, 640, 427), (42, 1024, 768), (50, 640, 480)]


def r2(v):
    return float(np.round(v, 2))


def rand_box(W, H, kind):
    lo, hi = {"s": (4, 30), "m": (34, 94), "l": (100, 300)}[kind]
    w, h = rng.uniform(lo, hi), rng.uniform(lo, hi)
    w, h = min(w, W - 2), min(h, H - 2)
    x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
    return [r2(x), r2(y), r2(w), r2(h)]


images, anns, dets = [], [], []
aid = 1
for iid, W, H in IMAGES:
    images.append({"id": iid, "width": W, "height": H, "file_name": "%012d.jpg" % iid})
    if iid == 50:  # no annotations; only false positives below
        continue
    n = 22 if iid == 42 else int(rng.integers(2, 9))
    for _ in range(n):
        cat = 1 if iid == 42 else int(rng.choice([1, 2, 3]))
        box = rand_box(W, H, str(rng.choice(["s", "m", "l"])))
        crowd = 1 if rng.uniform() < 0.08 else 0
        area = r2(box[2] * box[3] * (rng.uniform(0.5, 1.0) if rng.uniform() < 0.7 else 1.0))
        anns.append({"id": aid, "image_id": iid, "category_id": cat, "bbox": box,
                     "area": area, "iscrowd": crowd})
        aid += 1
# one crowd box that swallows several detections
anns.append({"id": aid, "image_id": 20, "category_id": 2, "bbox": [10.0, 10.0, 400.0, 300.0],
             "area": 100000.0, "iscrowd": 1})
aid += 1


def jitter(box, s):
    x, y, w, h = box
    return [r2(x + rng.normal(0, s * w)), r2(y + rng.normal(0, s * h)),
            r2(max(1.0, w * np.exp(rng.normal(0, s)))), r2(max(1.0, h * np.exp(rng.normal(0, s))))]


def score():
    return float(np.round(rng.uniform(0.05, 1.0) * 20) / 20)  # 0.05 grid: ties


for a in anns:
    if a["image_id"] == 12:  # annotations but no detections
        continue
    if rng.uniform() < 0.85:
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"],
                     "bbox": jitter(a["bbox"], 0.08), "score": score()})
    if rng.uniform() < 0.25:  # a duplicate
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"],
                     "bbox": jitter(a["bbox"], 0.15), "score": score()})
for iid, W, H in IMAGES:
    if iid == 12:
        continue
    nfp = 130 if iid == 42 else int(rng.integers(1, 6))
    for _ in range(nfp):
        cat = 1 if iid == 42 else int(rng.choice([1, 2, 3, 8]))
        dets.append({"image_id": iid, "category_id": cat,
                     "bbox": rand_box(W, H, str(rng.choice(["s", "m", "l"]))), "score": score()})
# detections inside the crowd region (matched to the crowd box: ignored)
for _ in range(4):
    dets.append({"image_id": 20, "category_id": 2, "bbox": [r2(rng.uniform(20, 200)),
                 r2(rng.uniform(20, 150)), 60.0, 50.0], "score": score()})
order = rng.permutation(len(dets))
dets = [dets[i] for i in order]

gt = {"images": images, "annotations": anns,
      "categories": [{"id": c, "name": NAMES[c]} for c in CATS]}
os.makedirs(OUT, exist_ok=True)
gt_path, dt_path = os.path.join(OUT, "coco_gt.json"), os.path.join(OUT, "coco_dt.json")
with open(gt_path, "w") as f:
    json.dump(gt, f)
with open(dt_path, "w") as f:
    json.dump(dets, f)

# ---- pycocotools ----
cg = COCO(gt_path)
cd = cg.loadRes(dt_path)
E = COCOeval(cg, cd, "bbox")
E.evaluate()
E.accumulate()
E.summarize()
prec, rec = E.eval["precision"], E.eval["recall"]
per = {}
for k, c in enumerate(E.params.catIds):
    pc = prec[:, :, k, 0, 2]
    p50 = prec[0, :, k, 0, 2]
    rc = rec[:, k, 0, 2]
    per[str(c)] = {"ap": float(np.mean(pc[pc > -1])) if (pc > -1).any() else -1.0,
                   "ap50": float(np.mean(p50[p50 > -1])) if (p50 > -1).any() else -1.0,
                   "ar100": float(np.mean(rc[rc > -1])) if (rc > -1).any() else -1.0}


# ---- Ultralytics 8.3 validator metrics, NumPy re-statement ----
def box_iou_f32(g, d):
    g, d = g.astype(np.float32), d.astype(np.float32)
    lt = np.maximum(g[:, None, :2], d[None, :, :2])
    rb = np.minimum(g[:, None, 2:], d[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    a1 = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    a2 = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    return inter / (a1[:, None] + a2[None, :] - inter + np.float32(1e-7))


def match_predictions(pred_cls, true_cls, iou):
    iouv = np.array([np.float32(0.5 + 0.05 * t) for t in range(10)], dtype=np.float32)
    correct = np.zeros((len(pred_cls), 10), dtype=bool)
    iou = iou * (true_cls[:, None] == pred_cls[None, :])
    for i, thr in enumerate(iouv):
        matches = np.array(np.nonzero(iou >= thr)).T
        if matches.shape[0]:
            if matches.shape[0] > 1:
                matches = matches[iou[matches[:, 0], matches[:, 1]].argsort(kind="stable")[::-1]]
                matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
                matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
            correct[matches[:, 1].astype(int), i] = True
    return correct


def xyxy(b):
    return [b[0], b[1], np.float32(b[0] + b[2]), np.float32(b[1] + b[3])]


cat_index = {c: k for k, c in enumerate(CATS)}
tps, confs, pcls, tcls = [], [], [], []
for iid, W, H in IMAGES:
    g = [a for a in anns if a["image_id"] == iid and not a["iscrowd"]]
    d = [x for x in dets if x["image_id"] == iid]
    ds = np.array([x["score"] for x in d], dtype=np.float32)
    o = np.argsort(-ds, kind="stable")
    d = [d[i] for i in o]
    gc = np.array([cat_index[a["category_id"]] for a in g], dtype=np.int64)
    dc = np.array([cat_index[x["category_id"]] for x in d], dtype=np.int64)
    tcls.extend(gc.tolist())
    if not d:
        continue
    if g:
        iou = box_iou_f32(np.array([xyxy(a["bbox"]) for a in g], dtype=np.float32),
                          np.array([xyxy(x["bbox"]) for x in d], dtype=np.float32))
        tps.append(match_predictions(dc, gc, iou))
    else:
        tps.append(np.zeros((len(d), 10), dtype=bool))
    confs.append(np.array([x["score"] for x in d], dtype=np.float32))
    pcls.append(dc)
tp, conf, pred_cls, target_cls = (np.concatenate(tps), np.concatenate(confs),
                                  np.concatenate(pcls), np.array(tcls))


def smooth(y, f=0.05):
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def compute_ap(recall, precision):
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return np.trapezoid(np.interp(x, mrec, mpre), x)


eps = 1e-16
i = np.argsort(-conf, kind="stable")
tp, conf, pred_cls = tp[i], conf[i], pred_cls[i]
unique_classes, nt = np.unique(target_cls, return_counts=True)
x = np.linspace(0, 1, 1000)
ap = np.zeros((len(unique_classes), 10))
p_curve = np.zeros((len(unique_classes), 1000))
r_curve = np.zeros((len(unique_classes), 1000))
for ci, c in enumerate(unique_classes):
    i = pred_cls == c
    n_l, n_p = nt[ci], i.sum()
    if n_p == 0 or n_l == 0:
        continue
    fpc = (1 - tp[i]).cumsum(0)
    tpc = tp[i].cumsum(0)
    recall = tpc / (n_l + eps)
    r_curve[ci] = np.interp(-x, -conf[i], recall[:, 0], left=0)
    precision = tpc / (tpc + fpc)
    p_curve[ci] = np.interp(-x, -conf[i], precision[:, 0], left=1)
    for j in range(10):
        ap[ci, j] = compute_ap(recall[:, j], precision[:, j])
f1 = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
bi = smooth(f1.mean(0), 0.1).argmax()
p, r = p_curve[:, bi], r_curve[:, bi]
ul = {"mp": float(p.mean()), "mr": float(r.mean()), "map50": float(ap[:, 0].mean()),
      "map5095": float(ap.mean()), "conf_at": float(x[bi]),
      "classes": {str(CATS[int(c)]): {"p": float(p[k]), "r": float(r[k]), "ap50": float(ap[k, 0]),
                                      "ap5095": float(ap[k].mean()), "instances": int(nt[k])}
                  for k, c in enumerate(unique_classes)}}

expected = {"generator": "tools/make_coco_fixture.py", "numpy": np.__version__,
            "pycocotools": getattr(pycocotools, "__version__", "2.x"),
            "stats": [float(v) for v in E.stats], "per_category": per, "ultralytics": ul}
with open(os.path.join(OUT, "coco_expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote %d images, %d annotations, %d detections to %s" % (len(images), len(anns), len(dets), OUT))
