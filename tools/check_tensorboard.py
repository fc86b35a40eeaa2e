#!/usr/bin/env python3
"""Reads a yoloc run's TensorBoard event file with TensorBoard itself.

    python tools/check_tensorboard.py RUN_DIR [EPOCHS]

Loads RUN_DIR with tensorboard's EventAccumulator (pip install tensorboard)
and checks what `yoloc train` writes: per epoch the results.csv columns
under Ultralytics' tags (train/*_loss, metrics/*(B), val/*_loss, lr/pg*) at
steps 1..EPOCHS with the values of results.csv, per optimizer step
step/lr/pg*, step/*_loss and step/grad_norm at steps 0..N-1 with the values
of steps.csv, and the plots of the run folder as images. Prints the tags and exits 1 on a
mismatch. Optional: yoloc never needs Python.
"""
import csv
import math
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    run = sys.argv[1]
    acc = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars, images = sorted(tags["scalars"]), sorted(tags["images"])
    print("scalars:", ", ".join(scalars))
    print("images:", ", ".join(images))
    bad = 0
    with open(os.path.join(run, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else len(rows)
    for col in rows[0]:
        if col == "epoch":
            continue
        if col not in scalars:
            print("missing epoch tag", col)
            bad = 1
            continue
        ev = acc.Scalars(col)
        want = [(int(r["epoch"]), float(r[col])) for r in rows if math.isfinite(float(r[col]))]
        got = [(e.step, e.value) for e in ev]
        if col.startswith(("train/", "lr/")) and [s for s, _ in got] != list(range(1, epochs + 1)):
            print(col, "steps", [s for s, _ in got], "expected 1..%d" % epochs)
            bad = 1
        for (s, v), (ws, wv) in zip(got, want):
            if s != ws or abs(v - wv) > 1e-5 * max(1.0, abs(wv)):
                print(col, "step", s, "value", v, "vs results.csv", ws, wv)
                bad = 1
    with open(os.path.join(run, "steps.csv")) as f:
        steps = list(csv.DictReader(f))
    for tag, col in [("step/lr/pg1", "lr/pg1"), ("step/grad_norm", "grad_norm")]:
        if tag not in scalars:
            print("missing step tag", tag)
            bad = 1
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = [(int(r["step"]), float(r[col])) for r in steps if math.isfinite(float(r[col]))]
        if [s for s, _ in got] != [s for s, _ in want]:
            print(tag, "steps differ from steps.csv")
            bad = 1
        for (s, v), (ws, wv) in zip(got, want):
            if abs(v - wv) > 1e-5 * max(1.0, abs(wv)):
                print(tag, "step", s, v, "vs steps.csv", wv)
                bad = 1
    for name in ("results", "lr", "PR_curve", "confusion_matrix"):  # the plots the run folder has
        if os.path.exists(os.path.join(run, name + ".png")) and name not in images:
            print("missing image", name)
            bad = 1
    print("tensorboard check:", "FAILED" if bad else "ok (%d epoch rows, %d steps)" % (len(rows), len(steps)))
    return bad


if __name__ == "__main__":
    sys.exit(main())
