#!/bin/sh
# yoloc bench as a process (not a timing test): on the tiny model at 64x64,
# one repeat, one thread, it exits 0, prints the summary, the per-layer table
# and the time by kind, says that BatchNorm is folded, runs amp=True (the
# default) in bf16 where `yoloc version` says the CPU has it (dtype bf16 in
# the JSON), answers an explicit amp=True with a one-line fp32 notice
# elsewhere, runs amp=False in fp32, names the CPU paths
# (oneDNN isa, yoloc kernels), and writes out= as JSON with every key of the
# comparison (step_s, train_img_s, predict_ms, peak_rss_mb, conv_gflops,
# non_conv_share) holding finite positive numbers (non_conv_share in
# [0, 1], train_img_s = batch / step_s). Without out= it writes bench.json
# in the working folder. Keys bench does not use, a non-integer batch and
# a bad image size are refused with one error line naming them.
# Usage: test_bench_cli.sh path/to/yoloc
# ctest-labels: bench
Y=${1:?usage: test_bench_cli.sh path/to/yoloc}
case "$Y" in /*) ;; *) Y="$(pwd)/$Y" ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
cd "$T" || exit 1
TINY="model=$ROOT/tests/train/yolov8t.yaml imgsz=64 batch=2 reps=1 threads=1"

"$Y" bench $TINY amp=True out="$T/b.json" >"$T/log" 2>&1 || { echo "FAIL bench run:"; cat "$T/log"; exit 1; }
grep -q '^training step (accumulate=1) .* images/s' "$T/log" && ok "summary line" || bad "no training step line"
grep -q '^predict latency, batch 1' "$T/log" && ok "predict line" || bad "no predict line"
grep -q '^slowest layers of the training step' "$T/log" && ok "per-layer table" || bad "no per-layer table"
[ "$(sed -n '/^slowest layers/,/^$/p' "$T/log" | grep -c '^ *[0-9][0-9]* [A-Za-z]')" -eq 10 ] \
    && ok "10 layers in the table" || bad "the table does not list 10 layers"
grep -q 'outside convolutions: [0-9.]* %' "$T/log" && ok "non-conv share printed" || bad "no non-conv share"
grep -q '^eval forward and predict: BatchNorm folded' "$T/log" && ok "says BatchNorm is folded" || bad "no BN folding note"
grep -q '^FP32 FMA peak, measured (.*): [0-9.]* GFLOP/s' "$T/log" && ok "FMA peak printed" || bad "no FMA peak line"
grep -q '^cpu: .*; oneDNN isa [a-z0-9_]*; yoloc kernels [a-z0-9]* .*; precision ' "$T/log" \
    && ok "CPU paths: $(grep '^cpu: ' "$T/log")" || bad "no 'cpu: ... oneDNN isa ... yoloc kernels ...' line"
if "$Y" version | grep -q '^amp=True: bf16'; then
    WANT_DTYPE=bf16
    grep -q '^amp=True' "$T/log" && bad "amp=True on a bf16 CPU printed a fallback notice" || ok "amp=True runs bf16 here"
    grep -q 'precision bf16 convolutions' "$T/log" && ok "says bf16 convolutions" || bad "no bf16 precision line"
else
    WANT_DTYPE=fp32
    [ "$(grep -c '^amp=True: running fp32: .*bf16' "$T/log")" -eq 1 ] && ok "amp=True: $(grep '^amp=True' "$T/log")" \
        || bad "amp=True gave no one-line fp32 notice with the reason"
fi

# every key the comparison reads: a finite positive number; the file is one JSON object
check_json() { # file
    f=$1
    [ -s "$f" ] || { bad "$f missing or empty"; return; }
    head -c 1 "$f" | grep -q '{' && tail -n 1 "$f" | grep -q '^}$' || bad "$f is not one JSON object"
    for k in step_s train_img_s predict_ms peak_rss_mb conv_gflops non_conv_share eval_s fwd_s bwd_s loss_s \
             optim_s ema_s fp32_peak_gflops conv_peak_share; do
        v=$(sed -n "s/^  \"$k\": \([-0-9.eE+]*\),\{0,1\}$/\1/p" "$f")
        if [ -z "$v" ]; then bad "$f: key $k missing or not a number"; continue; fi
        awk -v v="$v" -v k="$k" 'BEGIN { if (!(v + 0 > 0 && v + 0 < 1e12)) exit 1;
                                         if (k == "non_conv_share" && v + 0 > 1) exit 1 }' \
            || bad "$f: $k = $v out of range"
    done
    awk -F': ' '/^  "step_s"/ { s = $2 + 0 } /^  "train_img_s"/ { r = $2 + 0 } /^  "batch"/ { b = $2 + 0 }
                END { d = r - b / s; if (d < 0) d = -d; exit !(s > 0 && d <= 1e-6 * r) }' "$f" \
        && ok "$f: train_img_s = batch / step_s" || bad "$f: train_img_s is not batch / step_s"
    grep -q '"bn_folded": true' "$f" && grep -q '"amp_requested": ' "$f" && grep -q "\"dtype\": \"$2\"" "$f" \
        || bad "$f: bn_folded / amp_requested / dtype $2 missing"
    grep -q '"isa": "[a-z0-9_]*"' "$f" && grep -q '"kernel_isa": "[a-z0-9]*"' "$f" && ok "$f: isa and kernel_isa" \
        || bad "$f: isa / kernel_isa missing"
    # a strict parser, where one is installed
    for p in python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null 2>&1; then
            "$p" -c 'import json, math, sys
d = json.load(open(sys.argv[1]))
for k in ("step_s", "train_img_s", "predict_ms", "peak_rss_mb", "conv_gflops", "non_conv_share"):
    assert isinstance(d[k], (int, float)) and math.isfinite(d[k]) and d[k] > 0, k
assert len(d["layers"]) == 23, len(d["layers"])' "$f" && ok "$f parses ($p)" || bad "$f: strict JSON check failed"
            break
        fi
    done
}
check_json "$T/b.json" "$WANT_DTYPE"
[ ! -e "$T/bench.json" ] && ok "out= given: no bench.json in the working folder" || bad "bench.json written despite out="

# default out: bench.json in the working folder
"$Y" bench $TINY >"$T/log2" 2>&1 && [ -s "$T/bench.json" ] && grep -q "^written to bench.json" "$T/log2" \
    && ok "default out=bench.json" || { bad "default out"; tail -5 "$T/log2"; }
grep -q '^amp=True' "$T/log2" && bad "amp notice without amp=True given" || true
check_json "$T/bench.json" "$WANT_DTYPE" # amp is on by default: bf16 where the CPU has it
"$Y" bench $TINY amp=False out="$T/f.json" >"$T/log3" 2>&1 || { bad "amp=False run"; tail -5 "$T/log3"; }
grep -q '^amp=' "$T/log3" && bad "a notice with amp=False" || true
check_json "$T/f.json" fp32

# refusals: one error line naming the key
expect_error() { # name needle args...
    name=$1; needle=$2; shift 2
    "$Y" bench "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit status $rc"; return; fi
    if [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -q "^error: .*$needle" "$T/err"; then
        bad "$name:"; cat "$T/err"; return
    fi
    ok "$name: $(cat "$T/err")"
}
expect_error "unused key" "'epochs' is not used by 'yoloc bench'" $TINY epochs=3
expect_error "auto batch" "key 'batch'" model="$ROOT/tests/train/yolov8t.yaml" imgsz=64 batch=-1 reps=1
expect_error "fractional batch" "key 'batch'" model="$ROOT/tests/train/yolov8t.yaml" imgsz=64 batch=2.5 reps=1
expect_error "image size" "stride" model="$ROOT/tests/train/yolov8t.yaml" imgsz=72 batch=2 reps=1 threads=1
expect_error "reps range" "key 'reps'" model="$ROOT/tests/train/yolov8t.yaml" imgsz=64 batch=2 reps=0
exit $fail
