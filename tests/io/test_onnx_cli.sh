#!/bin/sh
# `yoloc export` on the command line, no Python needed: a good export lands
# where Ultralytics puts it (next to the weights, suffix .onnx) or at file=;
# bad input - no or an unknown format, an opset outside 13..17, an image size
# off the stride, an unknown key, weights of another model (other scale,
# other class count) - is one clear error line, a non-zero exit, no OUT.onnx
# or OUT.onnx.tmp left behind and an existing OUT.onnx unchanged. A YOLOv5
# model exports with output0 [batch, anchors, 5+nc], taking its class names
# from a JSON sidecar (W.json) when the weights carry none.
# Usage: test_onnx_cli.sh path/to/yoloc
Y=${1:?usage: test_onnx_cli.sh path/to/yoloc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# A float32 .npy [1, 3, 64, 64] of 0.5 and 0.25 (written by hand, as in
# tests/cli/test_cli.sh), for `yoloc forward ... save_weights=`.
npy_image() {
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 64, 64), }"
    len=$(( ${#dict} + 1 ))
    pad=$(( (64 - (10 + len) % 64) % 64 ))
    hlen=$(( len + pad ))
    { printf '\223NUMPY\001\000'; printf "\\$(printf %03o $((hlen % 256)))\\$(printf %03o $((hlen / 256)))";
      printf '%s' "$dict"; printf "%${pad}s\n" ""; } >"$1"
    printf '\000\000\000\077\000\000\200\076%.0s' $(seq 6144) >>"$1"
}

# expect_error NAME NEEDLE CMD...: exit status 1..127, exactly one stderr line
# "error: ...NEEDLE...", and $T/out.onnx untouched (it holds "precious").
expect_error() {
    name=$1; needle=$2; shift 2
    printf precious >"$T/out.onnx"
    "$@" >"$T/stdout" 2>"$T/err"; rc=$?
    lines=$(wc -l <"$T/err")
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit status $rc"; return; fi
    if [ "$lines" -ne 1 ]; then bad "$name: $lines error lines:"; cat "$T/err"; return; fi
    if ! grep -q "^error: .*$needle" "$T/err"; then bad "$name: message lacks '$needle':"; cat "$T/err"; return; fi
    if [ "$(cat "$T/out.onnx")" != precious ]; then bad "$name: out.onnx changed"; return; fi
    if [ -e "$T/out.onnx.tmp" ]; then bad "$name: out.onnx.tmp left behind"; return; fi
    ok "$name: $(cat "$T/err")"
}

npy_image "$T/x.npy"
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y.npy" save_weights="$T/w3.safetensors" \
    >/dev/null 2>&1 || { echo "FAIL: yoloc forward cannot write weights"; exit 1; }

# --- good exports
if "$Y" export model="$T/w3.safetensors" format=onnx imgsz=320 >"$T/stdout" 2>"$T/err" &&
   [ -s "$T/w3.onnx" ] && [ ! -e "$T/w3.onnx.tmp" ]; then
    ok "model=W.safetensors -> W.onnx: $(cat "$T/stdout")"
else
    bad "export next to the weights:"; cat "$T/stdout" "$T/err"
fi
size=$(wc -c <"$T/w3.onnx" 2>/dev/null || echo 0)
[ "$size" -gt 11000000 ] && [ "$size" -lt 13000000 ] && ok "size $size bytes (3.0 M float32 parameters)" ||
    bad "size $size bytes, expected about 12 MB"
if "$Y" export model=yolov8n.yaml nc=3 weights="$T/w3.safetensors" format=onnx half=True dynamic=True \
       file="$T/h.onnx" >"$T/stdout" 2>"$T/err" && [ -s "$T/h.onnx" ]; then
    grep -q "float16, images \[batch, 3, height, width\] -> output0 \[batch, 7, anchors\]" "$T/stdout" &&
        ok "weights= and file=, half, dynamic: $(cat "$T/stdout")" || { bad "summary line:"; cat "$T/stdout"; }
    hs=$(wc -c <"$T/h.onnx")
    [ "$hs" -lt $(( size * 6 / 10 )) ] && ok "half: $hs bytes" || bad "half file $hs bytes, float32 $size"
else
    bad "export with file=:"; cat "$T/stdout" "$T/err"
fi
"$Y" export model="$T/w3.safetensors" format=onnx imgsz=320 file="$T/w3b.onnx" >/dev/null 2>&1
cmp -s "$T/w3.onnx" "$T/w3b.onnx" && ok "the same export twice: the same bytes" || bad "two exports differ"

# --- YOLOv5: seeded weights without class names, names from W.json
"$Y" forward model=yolov5n.yaml nc=3 input="$T/x.npy" out="$T/y5.npy" save_weights="$T/v5.safetensors" \
    >/dev/null 2>&1 || { echo "FAIL: yoloc forward cannot write YOLOv5 weights"; exit 1; }
printf '{"names": ["cat", "dog", "bird"]}\n' >"$T/v5.json"
if "$Y" export model=yolov5n.yaml nc=3 weights="$T/v5.safetensors" format=onnx imgsz=320 >"$T/stdout" 2>"$T/err" &&
   [ -s "$T/v5.onnx" ]; then
    grep -q "float32, images \[1, 3, 320, 320\] -> output0 \[1, 6300, 8\]" "$T/stdout" &&
        ok "YOLOv5 -> W.onnx: $(cat "$T/stdout")" || { bad "YOLOv5 summary line:"; cat "$T/stdout"; }
    grep -aq "{0: 'cat', 1: 'dog', 2: 'bird'}" "$T/v5.onnx" && ok "YOLOv5 names from v5.json" ||
        bad "YOLOv5 export lacks the names of v5.json"
else
    bad "YOLOv5 export:"; cat "$T/stdout" "$T/err"
fi
printf '{"names": ["cat"]}\n' >"$T/v5.json"
if "$Y" export model=yolov5n.yaml nc=3 weights="$T/v5.safetensors" format=onnx dynamic=True \
       file="$T/v5d.onnx" >"$T/stdout" 2>"$T/err" && [ -s "$T/v5d.onnx" ]; then
    grep -q "images \[batch, 3, height, width\] -> output0 \[batch, anchors, 8\]" "$T/stdout" &&
        ok "YOLOv5 dynamic: $(cat "$T/stdout")" || { bad "YOLOv5 dynamic summary line:"; cat "$T/stdout"; }
    grep -q "v5.json.*names" "$T/err" && grep -aq "{0: 'class0', 1: 'class1', 2: 'class2'}" "$T/v5d.onnx" &&
        ok "a sidecar with another class count: $(cat "$T/err"), generic names" ||
        { bad "sidecar with 1 name for 3 classes:"; cat "$T/err"; }
else
    bad "YOLOv5 dynamic export:"; cat "$T/stdout" "$T/err"
fi

# --- bad input
E="$Y export model=$T/w3.safetensors file=$T/out.onnx"
expect_error "no format" "format=onnx" $E
expect_error "unknown format" "format" $E format=tflite
expect_error "opset 12" "opset" $E format=onnx opset=12
expect_error "opset 18" "opset" $E format=onnx opset=18
expect_error "imgsz off the stride" "imgsz" $E format=onnx imgsz=100
expect_error "unknown key" "simplify" $E format=onnx simplify=True
expect_error "weights of another scale" "w3.safetensors" "$Y" export model=yolov8s.yaml nc=3 \
    weights="$T/w3.safetensors" format=onnx file="$T/out.onnx"
expect_error "weights of another class count" "w3.safetensors" "$Y" export model=yolov8n.yaml \
    weights="$T/w3.safetensors" format=onnx file="$T/out.onnx"
expect_error "YOLOv5 weights for a YOLOv8 model" "v5.safetensors" "$Y" export model=yolov8n.yaml nc=3 \
    weights="$T/v5.safetensors" format=onnx file="$T/out.onnx"
expect_error "missing weights file" "nothere.safetensors" "$Y" export model=yolov8n.yaml \
    weights="$T/nothere.safetensors" format=onnx file="$T/out.onnx"
expect_error "folder that does not exist" "no/such" "$Y" export model="$T/w3.safetensors" format=onnx \
    file="$T/no/such/out.onnx"

[ $fail -eq 0 ] && echo "all export command checks passed"
exit $fail
