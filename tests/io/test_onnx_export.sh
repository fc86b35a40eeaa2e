#!/bin/sh
# ONNX export parity (needs Python with numpy, onnx, onnxruntime and OpenCV;
# skipped, exit 77, when one is missing): yolov8n with seeded weights
# perturbed to realistic values (tools/check_onnx.py perturb: a fresh model's
# output hardly depends on its input), exported static (opset 13, batch 1,
# 640), static batch 2 (opset 17, 320), dynamic (opset 15) and half; each
# file passes onnx.checker (full_check), carries the Ultralytics metadata,
# uses only TensorRT's operators, and gives `yoloc forward`'s output through
# ONNX Runtime and OpenCV DNN to 1e-4 relative on several inputs (box
# coordinates relative to the image size, scores absolute: see
# tools/check_onnx.py). Dynamic files are run by ONNX Runtime only (OpenCV's
# importer needs static shapes), half files by ONNX Runtime only (OpenCV 4.6
# reads no float16 initializers) to 5e-3 (float16 through the whole network;
# a coordinate near 500 px is stored to 0.25 px). A trained model at
# runs/demo/train/weights/best.safetensors (after `make demo`) is checked too.
# Usage: test_onnx_export.sh path/to/yoloc
Y=${1:?usage: test_onnx_export.sh path/to/yoloc}
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="$HERE/../../tools/check_onnx.py"
# The first of $PYTHON, python3 and /usr/bin/python3 (Debian's, where
# python3-opencv lives) that has every module.
PY=""
why=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 || continue
    if out=$("$p" -c 'import numpy, onnx, onnxruntime, cv2' 2>&1); then PY=$p; break; fi
    why="$why $p: $(echo "$out" | tail -n 1);"
done
if [ -z "$PY" ]; then
    echo "skipped: no Python with numpy, onnx, onnxruntime and cv2 ($why)"
    echo "  install: apt-get install python3-numpy python3-opencv;" \
         "/usr/bin/python3 -m pip install --break-system-packages onnx onnxruntime"
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
check() { run "$PY" "$CHECK" check "$@"; }

# inputs, weights (seeded, then perturbed), yoloc's outputs
"$PY" "$CHECK" inputs "$T" --shape 1,3,640,640 --count 3 --seed 1 --prefix a || exit 1
"$PY" "$CHECK" inputs "$T" --shape 2,3,320,320 --count 2 --seed 2 --prefix b || exit 1
"$PY" "$CHECK" inputs "$T" --shape 2,3,320,256 --count 1 --seed 3 --prefix c || exit 1
run "$Y" forward model=yolov8n.yaml input="$T/a0.npy" out="$T/seed.npy" save_weights="$T/seed.safetensors" || exit 1
run "$PY" "$CHECK" perturb "$T/seed.safetensors" "$T/w.safetensors" --seed 7 || exit 1
for x in a0 a1 a2 b0 b1 c0; do
    run "$Y" forward model=yolov8n.yaml weights="$T/w.safetensors" input="$T/$x.npy" out="$T/$x.out.npy" || exit 1
done
A="$T/a0.npy:$T/a0.out.npy $T/a1.npy:$T/a1.out.npy $T/a2.npy:$T/a2.out.npy"
B="$T/b0.npy:$T/b0.out.npy $T/b1.npy:$T/b1.out.npy"
C="$T/c0.npy:$T/c0.out.npy"
E="$Y export model=yolov8n.yaml weights=$T/w.safetensors format=onnx"

echo "--- static, batch 1, 640, opset 13 (the defaults)"
run $E file="$T/s.onnx" && check "$T/s.onnx" $A --nc 80 --runtimes ort,cv2
echo "--- static, batch 2, 320, opset 17"
run $E imgsz=320 batch=2 opset=17 file="$T/b.onnx" && check "$T/b.onnx" $B --runtimes ort,cv2
echo "--- dynamic, opset 15"
run $E dynamic=True opset=15 file="$T/d.onnx" && check "$T/d.onnx" $A $B $C --dynamic --runtimes ort
echo "--- half: static batch 2 320, and dynamic"
run $E half=True imgsz=320 batch=2 file="$T/h.onnx" && check "$T/h.onnx" $B --half --runtimes ort --tol 5e-3
run $E half=True dynamic=True file="$T/hd.onnx" && check "$T/hd.onnx" $A $C --half --dynamic --runtimes ort --tol 5e-3

echo "--- YOLO11 (C2PSA's attention as MatMul/Softmax): static 640, static batch 2 320, dynamic"
run "$Y" forward model=yolo11n.yaml input="$T/a0.npy" out="$T/seed11.npy" save_weights="$T/seed11.safetensors" || exit 1
run "$PY" "$CHECK" perturb "$T/seed11.safetensors" "$T/w11.safetensors" --seed 8 || exit 1
for x in a0 a1 b0 b1 c0; do
    run "$Y" forward model=yolo11n.yaml weights="$T/w11.safetensors" input="$T/$x.npy" out="$T/$x.out11.npy" || exit 1
done
A11="$T/a0.npy:$T/a0.out11.npy $T/a1.npy:$T/a1.out11.npy"
B11="$T/b0.npy:$T/b0.out11.npy $T/b1.npy:$T/b1.out11.npy"
C11="$T/c0.npy:$T/c0.out11.npy"
E11="$Y export model=yolo11n.yaml weights=$T/w11.safetensors format=onnx"
run $E11 file="$T/s11.onnx" && check "$T/s11.onnx" $A11 --nc 80 --runtimes ort
run $E11 imgsz=320 batch=2 opset=17 file="$T/b11.onnx" && check "$T/b11.onnx" $B11 --runtimes ort
run $E11 dynamic=True file="$T/d11.onnx" && check "$T/d11.onnx" $A11 $B11 $C11 --dynamic --runtimes ort
if grep -q "MatMul" "$T/s11.onnx" && grep -q "Softmax" "$T/s11.onnx"; then
    echo "yolo11n.onnx holds the attention as MatMul and Softmax"
else
    echo "FAIL: no MatMul/Softmax in yolo11n.onnx"; fail=1
fi

TRAINED=${YOLOC_TRAINED:-runs/demo/train/weights/best.safetensors} # any trained yoloc checkpoint
if [ -f "$TRAINED" ]; then
    echo "--- trained: $TRAINED"
    "$PY" "$CHECK" inputs "$T" --shape 1,3,256,256 --count 2 --seed 4 --prefix t || exit 1
    # `yoloc forward` takes a model YAML: the one the weights' metadata names
    set -- $("$PY" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; m = json.loads(f.read(n))["__metadata__"]
print(m["model"], m["nc"])' "$TRAINED")
    for x in t0 t1; do
        run "$Y" forward model="$1" nc="$2" weights="$TRAINED" input="$T/$x.npy" out="$T/$x.out.npy" || exit 1
    done
    run "$Y" export model="$TRAINED" format=onnx imgsz=256 file="$T/t.onnx" &&
        check "$T/t.onnx" "$T/t0.npy:$T/t0.out.npy" "$T/t1.npy:$T/t1.out.npy" --runtimes ort,cv2
else
    echo "note: no $TRAINED (make demo writes one): trained weights not checked"
fi
[ $fail -eq 0 ] && echo "all ONNX checks passed"
exit $fail
