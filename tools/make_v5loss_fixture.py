#!/usr/bin/env python3
"""PyTorch reference of the YOLOv5 v6.1 loss for tests/loss/test_v5loss.c
(optional tool; never needed to build or test yoloc).

Re-implements utils/loss.py ComputeLoss (build_targets with the anchor-ratio
filter and the g = 0.5 neighbour cells, CIoU box loss, IoU objectness
targets with gr = 1, balance 4.0/1.0/0.4, smooth_BCE class targets) and
train.py's gain scaling in tensor form, as YOLOv5 computes it, and takes the
gradient with autograd. Writes

  tests/loss/fixtures/v5loss_pred.npy  [B, A, 5+nc] head logits (yoloc's row order)
  tests/loss/fixtures/v5loss_grad.npy  d(lbox + lobj + lcls)/d pred
  tests/loss/fixtures/v5loss.json      targets, grid, anchors, cfg, loss items

usage: make_v5loss_fixture.py   (needs torch; /usr/bin/python3 on Debian)
"""
import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "tests", "loss", "fixtures")

B, NC, NA = 2, 4, 3
LEVELS = [(8, 8, 8), (4, 4, 16), (2, 2, 32)]  # h, w, stride: a 64x64 input
IMGSZ = 64
ANCHORS_PX = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
HYP = {"box": 0.05, "obj": 1.0, "cls": 0.5, "anchor_t": 4.0, "label_smoothing": 0.1}


def bbox_ciou(box1, box2, eps=1e-7):
    """v6.1 bbox_iou(box1.T, box2, x1y1x2y2=False, CIoU=True), boxes [n, 4] xywh."""
    b1_x1, b1_x2 = box1[:, 0] - box1[:, 2] / 2, box1[:, 0] + box1[:, 2] / 2
    b1_y1, b1_y2 = box1[:, 1] - box1[:, 3] / 2, box1[:, 1] + box1[:, 3] / 2
    b2_x1, b2_x2 = box2[:, 0] - box2[:, 2] / 2, box2[:, 0] + box2[:, 2] / 2
    b2_y1, b2_y2 = box2[:, 1] - box2[:, 3] / 2, box2[:, 1] + box2[:, 3] / 2
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * \
            (torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)).clamp(0)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
    v = (4 / math.pi ** 2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def build_targets(p, targets, anchors, anchor_t):
    na, nt = NA, targets.shape[0]
    tcls, tbox, indices, anch = [], [], [], []
    gain = torch.ones(7)
    ai = torch.arange(na).float().view(na, 1).repeat(1, nt)
    targets = torch.cat((targets.repeat(na, 1, 1), ai[:, :, None]), 2)
    g = 0.5
    off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]).float() * g
    for i in range(len(p)):
        an = anchors[i]
        gain[2:6] = torch.tensor(p[i].shape)[[3, 2, 3, 2]]
        t = targets * gain
        if nt:
            r = t[:, :, 4:6] / an[:, None]
            j = torch.max(r, 1 / r).max(2)[0] < anchor_t
            t = t[j]
            gxy = t[:, 2:4]
            gxi = gain[[2, 3]] - gxy
            j, k = ((gxy % 1 < g) & (gxy > 1)).T
            l, m = ((gxi % 1 < g) & (gxi > 1)).T
            j = torch.stack((torch.ones_like(j), j, k, l, m))
            t = t.repeat((5, 1, 1))[j]
            offsets = (torch.zeros_like(gxy)[None] + off[:, None])[j]
        else:
            t = targets[0]
            offsets = 0
        b, c = t[:, :2].long().T
        gxy = t[:, 2:4]
        gwh = t[:, 4:6]
        gij = (gxy - offsets).long()
        gi, gj = gij.T
        a = t[:, 6].long()
        indices.append((b, a, gj.clamp_(0, int(gain[3]) - 1), gi.clamp_(0, int(gain[2]) - 1)))
        tbox.append(torch.cat((gxy - gij, gwh), 1))
        anch.append(an[a])
        tcls.append(c)
    return tcls, tbox, indices, anch


def compute_loss(p, targets, anchors):
    nl = len(p)
    box = HYP["box"] * 3 / nl
    cls = HYP["cls"] * NC / 80 * 3 / nl
    obj = HYP["obj"] * (IMGSZ / 640) ** 2 * 3 / nl
    eps = HYP["label_smoothing"]
    cp, cn = 1.0 - 0.5 * eps, 0.5 * eps
    bce = torch.nn.BCEWithLogitsLoss()
    balance = [4.0, 1.0, 0.4]
    lcls, lbox, lobj = torch.zeros(1, dtype=p[0].dtype), torch.zeros(1, dtype=p[0].dtype), torch.zeros(1, dtype=p[0].dtype)
    tcls, tbox, indices, anch = build_targets(p, targets, anchors, HYP["anchor_t"])
    nmatch = []
    for i, pi in enumerate(p):
        b, a, gj, gi = indices[i]
        tobj = torch.zeros_like(pi[..., 0])
        n = b.shape[0]
        nmatch.append(n)
        if n:
            ps = pi[b, a, gj, gi]
            pxy = ps[:, :2].sigmoid() * 2 - 0.5
            pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anch[i]
            pbox = torch.cat((pxy, pwh), 1)
            iou = bbox_ciou(pbox, tbox[i].to(pbox.dtype))
            lbox += (1.0 - iou).mean()
            tobj[b, a, gj, gi] = iou.detach().clamp(0).type(tobj.dtype)
            if NC > 1:
                t = torch.full_like(ps[:, 5:], cn)
                t[range(n), tcls[i]] = cp
                lcls += bce(ps[:, 5:], t)
        lobj += bce(pi[..., 4], tobj) * balance[i]
    return lbox * box, lobj * obj, lcls * cls, nmatch


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    anchors = torch.tensor(ANCHORS_PX, dtype=torch.float32).view(3, NA, 2) / torch.tensor(
        [s for _, _, s in LEVELS], dtype=torch.float32).view(3, 1, 1)
    # targets: image, class, cx, cy, w, h (normalised); includes cells at the
    # border, two targets sharing a cell and anchor, a tiny and a large box
    rows = [[0, 1, 0.30, 0.70, 0.20, 0.25], [0, 2, 0.5625, 0.5625, 0.10, 0.08], [0, 2, 0.5700, 0.5500, 0.12, 0.09],
            [0, 0, 0.99, 0.01, 0.05, 0.04], [1, 3, 0.5, 0.5, 0.95, 0.9], [1, 1, 0.1, 0.8, 0.02, 0.03]]
    for _ in range(8):
        w, h = rng.uniform(0.03, 0.6, 2)
        rows.append([int(rng.integers(B)), int(rng.integers(NC)), rng.uniform(w / 2, 1 - w / 2),
                     rng.uniform(h / 2, 1 - h / 2), w, h])
    targets = torch.tensor(rows, dtype=torch.float32)
    no = 5 + NC
    p = [torch.tensor(rng.normal(0, 1.5, (B, NA, h, w, no)), dtype=torch.float32, requires_grad=True)
         for h, w, _ in LEVELS]
    # the loss in double from the float32 logits (yoloc computes the terms in double)
    pd = [t.double() for t in p]
    lbox, lobj, lcls, nmatch = compute_loss(pd, targets, anchors)
    (lbox + lobj + lcls).sum().backward()
    # yoloc's layout: [B, A, no], rows level by level, anchor, y, x
    pred = np.concatenate([t.detach().numpy().reshape(B, -1, no) for t in p], 1)
    grad = np.concatenate([t.grad.numpy().reshape(B, -1, no) for t in p], 1)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "v5loss_pred.npy"), pred.astype(np.float32))
    np.save(os.path.join(OUT, "v5loss_grad.npy"), grad.astype(np.float32))
    info = {
        "generator": "tools/make_v5loss_fixture.py",
        "torch": torch.__version__,
        "batch": B, "nc": NC, "na": NA, "imgsz": IMGSZ,
        "levels": [[h, w, s] for h, w, s in LEVELS],
        "anchors": anchors.reshape(-1).tolist(),
        "hyp": HYP,
        "targets": [float(v) for r in rows for v in np.float32(r)],
        "terms": [float(lbox), float(lobj), float(lcls)],
        "matches_per_level": nmatch,
    }
    with open(os.path.join(OUT, "v5loss.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"terms {info['terms']}, matches {nmatch}; wrote {OUT}/v5loss.json, v5loss_pred.npy {pred.shape}, "
          f"v5loss_grad.npy")


if __name__ == "__main__":
    main()
