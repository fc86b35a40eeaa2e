#!/bin/sh
# YOLOv5 with the official pretrained weights, as a process: fine-tuning
# starts from yolov5n.safetensors on a 3-class dataset (343 of 349 items
# transferred, the class outputs fresh), freeze=10 is applied, the run logs
# YOLOv5's loss columns (box, obj, cls); `yoloc val` of the 80-class weights
# on coco128 prints the table, writes metrics.json and lands at the
# expected mAP; predict finds the giraffes of image 25; a weights file of another model or a missing one is a clear
# error. Needs ../shared/data (skips without it).
# Usage: test_finetune_cli.sh path/to/yoloc
Y=${1:?usage: test_finetune_cli.sh path/to/yoloc}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W="$ROOT/../shared/data/weights/yolov5n.safetensors"
COCO="$ROOT/../shared/data/coco128/data.yaml"
if [ ! -f "$W" ] || [ ! -f "$COCO" ]; then
    echo "SKIPPED: ../shared/data (weights/yolov5n.safetensors, coco128) is absent"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

# --- fine-tuning start (one short epoch on synthetic 3-class data) with freeze=10
"$Y" train model=yolov5n.yaml weights="$W" data=synth:classes=3,images=16,val=4,imgsz=96 imgsz=96 batch=8 \
    epochs=1 workers=1 plots=False freeze=10 project="$T/runs" name=ft >"$T/ft.log" 2>&1 \
    || { echo "FAIL fine-tuning run"; tail -5 "$T/ft.log"; fail=1; }
grep -q "Transferred 343/349 items (1757152/1767976 parameters)" "$T/ft.log" \
    && echo "ok   $(grep -o 'Transferred [0-9/]* items ([0-9/]* parameters)' "$T/ft.log"), class outputs re-initialised" \
    || { echo "FAIL transfer line"; grep -i transferred "$T/ft.log"; fail=1; }
grep -q "freeze=10: [0-9]* tensors of layers 0-9 get no updates" "$T/ft.log" \
    && echo "ok   $(grep -o 'freeze=10: [0-9]* tensors' "$T/ft.log") frozen" || { echo "FAIL freeze line"; fail=1; }
head -1 "$T/runs/ft/results.csv" 2>/dev/null | grep -q "train/box_loss,train/obj_loss,train/cls_loss" \
    && echo "ok   results.csv has YOLOv5's box/obj/cls loss columns" || { echo "FAIL results.csv header"; fail=1; }
[ -s "$T/runs/ft/weights/last.safetensors" ] && echo "ok   checkpoint written" || { echo "FAIL no checkpoint"; fail=1; }

# --- the pretrained weights on coco128 val (yoloc: mAP50 0.511, mAP50-95 0.343 at iou 0.7)
"$Y" val model=yolov5n.yaml weights="$W" data="$COCO" metric=coco out="$T/m.json" >"$T/val.log" 2>&1 \
    || { echo "FAIL val"; tail -5 "$T/val.log"; fail=1; }
m=$(tr -d '\n ' <"$T/m.json" 2>/dev/null | sed 's/.*"all":{[^}]*"mAP50-95":\([0-9.]*\).*/\1/')
awk -v m="$m" 'BEGIN { exit !(m > 0.30 && m < 0.40) }' && grep -q "mAP50-95)" "$T/val.log" \
    && echo "ok   yolov5n on coco128 val: table printed, mAP50-95 $m (COCO metric) in metrics.json" \
    || { echo "FAIL mAP50-95 '$m'"; tail -3 "$T/val.log"; fail=1; }

# --- predict with the official weights: the giraffes of coco128 image 25,
# named from the weights' JSON sidecar (yolov5n.json), then from data=
IMG="$ROOT/../shared/data/coco128/images/train/000000000025.jpg"
"$Y" predict model=yolov5n.yaml weights="$W" source="$IMG" project="$T/pred" >"$T/pred.log" 2>&1 \
    || { echo "FAIL predict"; tail -3 "$T/pred.log"; fail=1; }
grep -q "000000000025.jpg: 640x426, 2 giraffe," "$T/pred.log" && [ -s "$T/pred/predict/000000000025.jpg" ] \
    && echo "ok   predict: $(grep -o '2 giraffe' "$T/pred.log") drawn (names from yolov5n.json)" \
    || { echo "FAIL predict output"; cat "$T/pred.log"; fail=1; }
cp "$W" "$T/plain.safetensors"
"$Y" predict model=yolov5n.yaml weights="$T/plain.safetensors" source="$IMG" data="$COCO" project="$T/pred" \
    >"$T/pred2.log" 2>&1 && grep -q "2 giraffe," "$T/pred2.log" \
    && echo "ok   predict: names from data=" || { echo "FAIL names from data="; cat "$T/pred2.log"; fail=1; }

# --- bad weights from the command line
"$Y" val model=yolov8n.yaml weights="$W" data="$COCO" >"$T/bad1.log" 2>&1 && { echo "FAIL v5 weights into v8"; fail=1; }
grep -q "^error: .*yolov5n.safetensors: tensor '.*' is not in model" "$T/bad1.log" \
    && echo "ok   $(grep '^error' "$T/bad1.log" | cut -c1-140)" || { echo "FAIL error text"; cat "$T/bad1.log"; fail=1; }
"$Y" train model=yolov5n.yaml weights="$T/none.safetensors" data=synth:classes=3,images=8,val=2,imgsz=64 imgsz=64 \
    epochs=1 project="$T/runs" >"$T/bad2.log" 2>&1 && { echo "FAIL missing weights accepted"; fail=1; }
grep -q "^error: .*none.safetensors" "$T/bad2.log" && echo "ok   missing weights file: $(grep '^error' "$T/bad2.log" | cut -c1-120)" \
    || { echo "FAIL missing-file error"; cat "$T/bad2.log"; fail=1; }
exit $fail
