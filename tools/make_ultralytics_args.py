#!/usr/bin/env python3
"""The args.yaml an Ultralytics 8.3 training writes, for tests/train/test_ul_args.sh.

Starts Ultralytics' own DetectionTrainer (it writes args.yaml into its run directory before training)
with the overrides below on BCCD (../shared/data/bccd), without training, and copies the file to
tests/train/fixtures/ul/args.yaml. The overrides are the kind a user sets (model, data, epochs, imgsz,
batch, optimizer, lr0, a few augmentation and predict keys); every other key is Ultralytics' default.

Needs PyTorch and ultralytics==8.3.253.  Usage: python tools/make_ultralytics_args.py
"""
import os
import shutil
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BCCD = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "bccd"))
OUT = os.path.join(ROOT, "tests", "train", "fixtures", "ul", "args.yaml")

OVERRIDES = dict(model="yolo11n.yaml", epochs=3, imgsz=320, batch=8, workers=0, device="cpu", seed=1,
                 optimizer="SGD", lr0=0.02, momentum=0.9, cos_lr=True, close_mosaic=2, mosaic=0.5, fliplr=0.3,
                 hsv_h=0.01, label_smoothing=0.0, patience=50, plots=False, amp=False, conf=0.25, iou=0.6,
                 max_det=100, single_cls=False, fraction=1.0)


def main():
    import ultralytics
    from ultralytics.models.yolo.detect import DetectionTrainer

    assert ultralytics.__version__.startswith("8.3."), ultralytics.__version__
    work = tempfile.mkdtemp(prefix="yoloc_ul_args_")
    data = os.path.join(work, "bccd.yaml")
    with open(data, "w") as f:
        f.write("path: %s\ntrain: images/train\nval: images/val\nnames:\n  0: RBC\n  1: WBC\n  2: Platelets\n" % BCCD)
    t = DetectionTrainer(overrides=dict(OVERRIDES, data=data, project=os.path.join(work, "runs"), name="train"))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    shutil.copy(os.path.join(str(t.save_dir), "args.yaml"), OUT)
    print("wrote", OUT, "(Ultralytics %s)" % ultralytics.__version__)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
