#!/bin/sh
# ONNX export of YOLOv5 models against the official export (needs Python with
# numpy, onnx, onnxruntime and OpenCV, and the shared data folder ../shared/data
# next to the repository; skipped, exit 77, without them): yolov5n.yaml with
# the official weights (weights/yolov5n.safetensors, class names from its JSON
# sidecar) exported static (batch 1 at 640, opset 13; batch 2 at 320, opset
# 17; batch 2 at 640, opset 15), dynamic (opsets 13 and 17) and half. Each file
# passes onnx.checker (full_check), carries the metadata, uses only
# TensorRT's operators, and its output0 [batch, anchors, 5+nc] equals, to
# 1e-4 per element (relative, absolute below 1), both
#   - the official weights/yolov5n.onnx run by ONNX Runtime on the same input
#     (a static 640 graph: run image by image; at other sizes cut after its
#     Detect convolutions and decoded in numpy: tools/check_onnx.py
#     reference), and
#   - `yoloc forward` (eval output [B, 4+nc, A]: box, objectness x class),
# on letterboxed coco128 images (pad 114) and seeded random inputs, through
# ONNX Runtime and (static files) OpenCV DNN. Half files: ONNX Runtime, 5e-3
# relative to the image size (the v8 test's half tolerance), on the random
# inputs against both; on the coco128 images against the official graph run
# with its weights and input rounded to float16 (--round-half): rounding the
# trained weights alone moves some outputs by more (a class probability by
# 0.007, a 167-px box width by 3.6 px on 000000000025.jpg, float32 arithmetic
# or not), which says nothing about the graph. A yolov5n with
# seeded weights (no weights=) exports too, and with those weights perturbed
# to realistic values it equals `yoloc forward` the same way.
# Usage: test_onnx_v5.sh path/to/yoloc
Y=${1:?usage: test_onnx_v5.sh path/to/yoloc}
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="$HERE/../../tools/check_onnx.py"
DATA="$HERE/../../../shared/data"
W="$DATA/weights"
IMG="$DATA/coco128/images/train"
for f in "$W/yolov5n.safetensors" "$W/yolov5n.json" "$W/yolov5n.onnx" "$IMG/000000000025.jpg" \
         "$IMG/000000000009.jpg"; do
    if [ ! -f "$f" ]; then
        echo "SKIPPED: no $f (the shared data folder ../shared/data next to the repository)"
        exit 77
    fi
done
PY=""
why=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 || continue
    if out=$("$p" -c 'import numpy, onnx, onnxruntime, cv2' 2>&1); then PY=$p; break; fi
    why="$why $p: $(echo "$out" | tail -n 1);"
done
if [ -z "$PY" ]; then
    echo "SKIPPED: no Python with numpy, onnx, onnxruntime and cv2 ($why)"
    exit 77
fi
echo "using $PY"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
run() { # run a step and show its output (less OpenCV's [ERROR] log lines); count a failure
    if ! "$@" >"$T/log" 2>&1; then echo "FAIL: $*"; cat "$T/log"; fail=1; return 1; fi
    grep -v '^\[ERROR' "$T/log" || true
}
check() { run "$PY" "$CHECK" check "$@" --layout v5; }

# inputs: letterboxed images (1 at 640, 2 at 640, 2 at 320) and random ones
"$PY" "$CHECK" letterbox "$T/l1.npy" "$IMG/000000000025.jpg" || exit 1
"$PY" "$CHECK" letterbox "$T/l2.npy" "$IMG/000000000025.jpg" "$IMG/000000000009.jpg" || exit 1
"$PY" "$CHECK" letterbox "$T/l3.npy" "$IMG/000000000009.jpg" "$IMG/000000000025.jpg" --size 320 || exit 1
"$PY" "$CHECK" inputs "$T" --shape 1,3,640,640 --count 1 --seed 1 --prefix r1_ || exit 1
"$PY" "$CHECK" inputs "$T" --shape 2,3,320,320 --count 1 --seed 2 --prefix r2_ || exit 1
"$PY" "$CHECK" inputs "$T" --shape 2,3,320,256 --count 1 --seed 3 --prefix r3_ || exit 1
mv "$T/r1_0.npy" "$T/r1.npy" && mv "$T/r2_0.npy" "$T/r2.npy" && mv "$T/r3_0.npy" "$T/r3.npy" || exit 1
# expected outputs: the official graph's (.ref) and yoloc forward's (.fwd)
for x in l1 l2 l3 r1 r2 r3; do
    run "$PY" "$CHECK" reference "$W/yolov5n.onnx" "$T/$x.npy" "$T/$x.ref.npy" --meta "$W/yolov5n.json" || exit 1
    run "$Y" forward model=yolov5n.yaml weights="$W/yolov5n.safetensors" input="$T/$x.npy" \
        out="$T/$x.fwd.npy" || exit 1
done
for x in l1 l3; do
    run "$PY" "$CHECK" reference "$W/yolov5n.onnx" "$T/$x.npy" "$T/$x.ref16.npy" --meta "$W/yolov5n.json" \
        --round-half || exit 1
done
pairs() { for x in "$@"; do printf '%s ' "$T/$x.npy:$T/$x.ref.npy" "$T/$x.npy:$T/$x.fwd.npy"; done; }
E="$Y export model=yolov5n.yaml weights=$W/yolov5n.safetensors format=onnx"

echo "--- official weights: static, batch 1, 640, opset 13 (the defaults)"
run $E file="$T/s.onnx" && check "$T/s.onnx" $(pairs l1 r1) --nc 80 --metric element --runtimes ort,cv2
# the class names come from the weights' JSON sidecar
run "$PY" -c 'import ast, onnx, sys
names = ast.literal_eval({p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}["names"])
assert names[0] == "person" and names[79] == "toothbrush", names
print("ok   names from yolov5n.json:", names[0], "...", names[79])' "$T/s.onnx"
echo "--- official weights: static, batch 2, 320, opset 17"
run $E imgsz=320 batch=2 opset=17 file="$T/b.onnx" &&
    check "$T/b.onnx" $(pairs l3 r2) --metric element --runtimes ort,cv2
echo "--- official weights: static, batch 2, 640, opset 15"
run $E batch=2 opset=15 file="$T/b640.onnx" && check "$T/b640.onnx" $(pairs l2) --metric element --runtimes ort,cv2
echo "--- official weights: dynamic, opsets 13 and 17"
run $E dynamic=True file="$T/d13.onnx" &&
    check "$T/d13.onnx" $(pairs l1 l2 l3 r3) --dynamic --metric element --runtimes ort
run $E dynamic=True opset=17 file="$T/d17.onnx" &&
    check "$T/d17.onnx" $(pairs l1 r2) --dynamic --metric element --runtimes ort
echo "--- official weights: half, static batch 2 320 (opset 17), and dynamic"
run $E half=True imgsz=320 batch=2 opset=17 file="$T/h.onnx" &&
    check "$T/h.onnx" "$T/l3.npy:$T/l3.ref16.npy" $(pairs r2) --half --runtimes ort --tol 5e-3
run $E half=True dynamic=True file="$T/hd.onnx" &&
    check "$T/hd.onnx" "$T/l1.npy:$T/l1.ref16.npy" "$T/l3.npy:$T/l3.ref16.npy" $(pairs r3) --half --dynamic \
        --runtimes ort --tol 5e-3

echo "--- seeded weights (no weights=), and the same perturbed"
run "$Y" export model=yolov5n.yaml format=onnx imgsz=320 batch=2 file="$T/seed.onnx" || exit 1
run "$Y" forward model=yolov5n.yaml input="$T/r2.npy" out="$T/r2.seed.npy" save_weights="$T/seed.safetensors" ||
    exit 1
check "$T/seed.onnx" "$T/r2.npy:$T/r2.seed.npy" --runtimes ort,cv2
run "$PY" "$CHECK" perturb "$T/seed.safetensors" "$T/p.safetensors" --seed 7 || exit 1
for x in l3 r2 r3; do
    run "$Y" forward model=yolov5n.yaml weights="$T/p.safetensors" input="$T/$x.npy" out="$T/$x.p.npy" || exit 1
done
P="$Y export model=yolov5n.yaml weights=$T/p.safetensors format=onnx"
run $P imgsz=320 batch=2 opset=17 file="$T/ps.onnx" &&
    check "$T/ps.onnx" "$T/l3.npy:$T/l3.p.npy" "$T/r2.npy:$T/r2.p.npy" --metric element --runtimes ort,cv2
run $P dynamic=True file="$T/pd.onnx" &&
    check "$T/pd.onnx" "$T/l3.npy:$T/l3.p.npy" "$T/r3.npy:$T/r3.p.npy" --dynamic --metric element --runtimes ort

[ $fail -eq 0 ] && echo "all YOLOv5 ONNX checks passed"
exit $fail
