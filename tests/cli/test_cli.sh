#!/bin/sh
# Command-line tests: `yoloc info` parameter counts and GFLOPs, `yoloc forward`
# determinism and weight round trips, and bad input (malformed YAML, unknown
# module, truncated safetensors, weights of another model, unknown keys):
# each must print one clear error line and exit non-zero, never crash.
# Usage: test_cli.sh path/to/yoloc
Y=${1:?usage: test_cli.sh path/to/yoloc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# expect_error NAME NEEDLE CMD...: non-zero exit, exactly one stderr line that
# starts with "error:" and contains NEEDLE, no crash (exit < 128).
expect_error() {
    name=$1; needle=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    lines=$(wc -l <"$T/err")
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit status $rc"; return; fi
    if [ "$lines" -ne 1 ]; then bad "$name: $lines error lines:"; cat "$T/err"; return; fi
    if ! grep -q "^error: .*$needle" "$T/err"; then bad "$name: message lacks '$needle':"; cat "$T/err"; return; fi
    ok "$name: $(cat "$T/err")"
}

# A float32 .npy of the given 4-D shape, written by hand, holding 0.5 and
# 0.25 alternately (not zeros: a zero image makes a fresh model's output
# independent of its weights).
npy_image() { # path d0 d1 d2 d3
    shape="($2, $3, $4, $5)"
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': $shape, }"
    # pad so that 10 + header length is a multiple of 64, newline-terminated
    len=$(( ${#dict} + 1 ))
    pad=$(( (64 - (10 + len) % 64) % 64 ))
    hlen=$(( len + pad ))
    { printf '\223NUMPY\001\000'; printf "\\$(printf %03o $((hlen % 256)))\\$(printf %03o $((hlen / 256)))";
      printf '%s' "$dict"; printf "%${pad}s\n" ""; } >"$1"
    n=$(( $2 * $3 * $4 * $5 / 2 ))
    printf '\000\000\000\077\000\000\200\076%.0s' $(seq $n) >>"$1"
}

# --- info: parameter counts and GFLOPs as Ultralytics 8.3 prints them (its
# summary of the model as built, then of the model with BatchNorm folded)
for row in yolov8n:3,157,200:8.9:8.7 yolov8s:11,166,560:28.8:28.6 yolov8m:25,902,640:79.3:78.9 \
           yolov8l:43,691,520:165.7:165.1 yolov8x:68,229,648:258.5:257.8 \
           yolo11n:2,624,080:6.6:6.5 yolo11s:9,458,752:21.7:21.5 yolo11m:20,114,688:68.5:68.0 \
           yolo11l:25,372,160:87.6:86.9 yolo11x:56,966,176:195.9:194.9; do
    IFS=: read -r name want g1 g2 <<EOF2
$row
EOF2
    line=$("$Y" info model=$name.yaml imgsz=640 | tail -n 1)
    case "$line" in
    *" $want parameters"*" $g1 GFLOPs at 640x640 ($g2 with BatchNorm folded)"*) ok "$name: $line" ;;
    *) bad "$name: $line (want $want parameters, $g1 / $g2 GFLOPs)" ;;
    esac
done

# --- forward: same seed, same bits; weights round trip
npy_image "$T/x.npy" 1 3 64 64
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y1.npy" seed=7 save_weights="$T/w.safetensors" 2>/dev/null || bad "forward 1"
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y2.npy" seed=7 2>/dev/null || bad "forward 2"
cmp -s "$T/y1.npy" "$T/y2.npy" && ok "two forward runs with seed 7 are byte-identical" || bad "forward outputs differ"
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y3.npy" weights="$T/w.safetensors" seed=99 2>/dev/null || bad "forward 3"
cmp -s "$T/y1.npy" "$T/y3.npy" && ok "saved weights reload to the same outputs" || bad "weights round trip differs"
# (training mode: an untrained model's eval output is its biases to float
# precision, since running statistics are still mean 0, var 1)
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/t1.npy" seed=7 train=True 2>/dev/null
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/t2.npy" seed=7 train=True 2>/dev/null
"$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/t3.npy" seed=8 train=True 2>/dev/null
cmp -s "$T/t1.npy" "$T/t2.npy" && ok "training-mode forward with seed 7 is byte-identical twice" || bad "training forward differs"
cmp -s "$T/t1.npy" "$T/t3.npy" && bad "seed 8 gives the same output as seed 7" || ok "another seed gives other outputs"

# --- bad input
printf 'nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]\nhead: [\n' >"$T/malformed.yaml"
expect_error "malformed YAML" "malformed.yaml:[0-9]*:[0-9]*:" "$Y" info model="$T/malformed.yaml"
printf 'nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conf, [32, 3, 2]]\nhead:\n  - [[0, 1], 1, Detect, [nc]]\n' >"$T/unknown.yaml"
expect_error "unknown module" "unknown.yaml:4:.*unknown module 'Conf'" "$Y" info model="$T/unknown.yaml"
printf 'nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-3, 1, Conv, [32, 3, 2]]\nhead:\n  - [[0, 1], 1, Detect, [nc]]\n' >"$T/from.yaml"
expect_error "bad from index" "from.yaml:4:.*bad 'from' index" "$Y" info model="$T/from.yaml"
printf 'nc: 3\nbackbone:\n  - [-1, 1, Conv]\nhead:\n  - [[0], 1, Detect, [nc]]\n' >"$T/argc.yaml"
expect_error "wrong field count" "argc.yaml:3:" "$Y" info model="$T/argc.yaml"
expect_error "missing model file" "no such file" "$Y" info model="$T/nope.yaml"
size=$(wc -c <"$T/w.safetensors")
head -c $((size / 2)) "$T/w.safetensors" >"$T/trunc.safetensors"
expect_error "truncated safetensors" "trunc.safetensors" "$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y.npy" weights="$T/trunc.safetensors"
head -c 5 "$T/w.safetensors" >"$T/tiny.safetensors"
expect_error "5-byte safetensors" "tiny.safetensors" "$Y" forward model=yolov8n.yaml nc=3 input="$T/x.npy" out="$T/y.npy" weights="$T/tiny.safetensors"
expect_error "weights of another model (nc)" "w.safetensors: tensor 'model.22.cv3" "$Y" forward model=yolov8n.yaml nc=80 input="$T/x.npy" out="$T/y.npy" weights="$T/w.safetensors"
expect_error "weights of another model (scale)" "w.safetensors: tensor" "$Y" forward model=yolov8s.yaml nc=3 input="$T/x.npy" out="$T/y.npy" weights="$T/w.safetensors"
expect_error "unknown key" "unknown key 'imgsize'" "$Y" info model=yolov8n.yaml imgsize=640
expect_error "bad value" "key 'imgsz'" "$Y" info model=yolov8n.yaml imgsz=big
npy_image "$T/odd.npy" 1 3 64 66
expect_error "image size not a multiple of 32" "multiple of" "$Y" forward model=yolov8n.yaml input="$T/odd.npy" out="$T/y.npy"

exit $fail
