#!/bin/sh
# yoloc against PyTorch/Ultralytics on the same model, batch, image sizes and
# threads: runs `yoloc bench` and tools/bench_torch.py one after the other
# for each image size and prints their figures side by side with the ratios
# yoloc/PyTorch (training images/s: > 1 means yoloc is faster; latency and
# RSS: < 1 means yoloc is faster / smaller). Both sides time the same kind of
# synthetic batch (random images, 10 random boxes per image), a training step
# with accumulate=1 (forward, loss, backward, clipping, SGD, EMA), the eval
# forward at the batch and the predict latency at batch 1 (PyTorch: Conv+BN
# fused; yoloc folds it too), and the peak RSS of the process.
#
# usage: sh bench/compare.sh [path/to/yoloc] [model=yolov8n.yaml] [batch=16]
#            [imgsz=640,320] [threads=2] [reps=5] [amp=False] [dir=OUT]
# defaults: build/yoloc, yolov8n batch 16 at 640 and 320, 2 threads, 5
# repeats; $PYTHON (default /usr/bin/python3) runs the PyTorch side, which is
# skipped with its reason when torch or ultralytics is missing. Logs and both
# JSON files stay in dir= (default a new folder under ${TMPDIR:-/tmp}).
# Run it on a quiet machine: it prints the load average before and after.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Y="$ROOT/build/yoloc"
MODEL=yolov8n.yaml BATCH=16 SIZES=640,320 THREADS=2 REPS=5 AMP=False DIR=
for arg in "$@"; do
    case "$arg" in
    model=*) MODEL=${arg#model=} ;;
    batch=*) BATCH=${arg#batch=} ;;
    imgsz=*) SIZES=${arg#imgsz=} ;;
    threads=*) THREADS=${arg#threads=} ;;
    reps=*) REPS=${arg#reps=} ;;
    amp=*) AMP=${arg#amp=} ;;
    dir=*) DIR=${arg#dir=} ;;
    *=*) echo "compare.sh: unknown key '${arg%%=*}' (model, batch, imgsz, threads, reps, amp, dir)" >&2; exit 2 ;;
    *) Y=$arg ;;
    esac
done
case "$Y" in /*) ;; *) Y="$(pwd)/$Y" ;; esac
[ -x "$Y" ] || { echo "compare.sh: no yoloc binary at $Y (build it, or give its path first)" >&2; exit 2; }
PY=${PYTHON:-/usr/bin/python3}
if [ -z "$DIR" ]; then DIR=$(mktemp -d "${TMPDIR:-/tmp}/yoloc-compare.XXXXXX") || exit 1; fi
mkdir -p "$DIR" || exit 1
case "$AMP" in True|true|1|yes) TAMP=--amp; YAMP=amp=True ;; *) TAMP=; YAMP= ;; esac
# the torch side resolves built-in names itself; a model file is given by its path
case "$MODEL" in */*) [ -f "$MODEL" ] && MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL") ;; esac

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*load average: //'; }
# value of a top-level key of a bench JSON (one "key": value per line, as both sides write them)
jget() { sed -n "s/^  \"$2\": \([^,]*\),\{0,1\}$/\1/p" "$1" | head -1 | tr -d '"'; }

LOAD0=$(load)
echo "yoloc vs PyTorch: $MODEL, batch $BATCH, imgsz $SIZES, $THREADS threads, $REPS repeats; load average $LOAD0"
busy=$(echo "$LOAD0" | awk '{ print ($1 > 1.5) }')
[ "$busy" = 1 ] && echo "note: the machine is busy (1-minute load > 1.5): the figures below are noisy"
rc=0
for S in $(echo "$SIZES" | tr ',' ' '); do
    YJ="$DIR/yoloc_$S.json" TJ="$DIR/torch_$S.json"
    "$Y" bench model="$MODEL" imgsz="$S" batch="$BATCH" threads="$THREADS" reps="$REPS" $YAMP out="$YJ" \
        >"$DIR/yoloc_$S.log" 2>&1
    yrc=$?
    if [ $yrc -ne 0 ]; then
        echo "imgsz $S: yoloc bench failed (exit $yrc):"; tail -5 "$DIR/yoloc_$S.log"; rc=1; continue
    fi
    "$PY" "$ROOT/tools/bench_torch.py" --model "$MODEL" --imgsz "$S" --batch "$BATCH" --threads "$THREADS" \
        --reps "$REPS" $TAMP --out "$TJ" >/dev/null 2>"$DIR/torch_$S.log"
    trc=$?
    echo
    if [ $trc -eq 77 ]; then
        echo "imgsz $S: PyTorch side skipped: $(grep -m1 '^SKIPPED' "$DIR/torch_$S.log")"
        TJ=
    elif [ $trc -ne 0 ]; then
        echo "imgsz $S: PyTorch side failed (exit $trc):"; tail -5 "$DIR/torch_$S.log"; TJ=; rc=1
    fi
    printf '%-34s %12s %12s %14s\n' "imgsz $S, batch $BATCH" "yoloc" "PyTorch" "yoloc/PyTorch"
    # row LABEL KEY SCALE FORMAT: values x SCALE and their ratio
    row() {
        yv=$(jget "$YJ" "$2"); tv=; [ -n "$TJ" ] && tv=$(jget "$TJ" "$2")
        awk -v l="$1" -v y="$yv" -v t="$tv" -v k="$3" -v f="$4" 'BEGIN {
            ys = (y == "") ? "-" : sprintf(f, y * k); ts = (t == "") ? "-" : sprintf(f, t * k)
            r = (y != "" && t != "" && t + 0 != 0) ? sprintf("%.2fx", y / t) : "-"
            printf "%-34s %12s %12s %14s\n", l, ys, ts, r }'
    }
    row "training step (s)" step_s 1 "%.3f"
    row "  forward (s)" fwd_s 1 "%.3f"
    row "  loss + gradient (s)" loss_s 1 "%.3f"
    row "  backward (s)" bwd_s 1 "%.3f"
    row "  optimizer (s)" optim_s 1 "%.3f"
    row "  EMA (s)" ema_s 1 "%.4f"
    row "training images/s" train_img_s 1 "%.2f"
    row "eval forward images/s" eval_img_s 1 "%.2f"
    row "predict latency, batch 1 (ms)" predict_ms 1 "%.1f"
    row "peak RSS (MiB)" peak_rss_mb 1 "%.0f"
    row "convolutions GFLOP/s" conv_gflops 1 "%.1f"
    row "outside convolutions (% of step)" non_conv_share 100 "%.1f"
    echo "  (ratios: images/s > 1 = yoloc faster; step, latency, RSS < 1 = yoloc faster / smaller;"
    echo "   precision yoloc $(jget "$YJ" dtype) (oneDNN $(jget "$YJ" isa)), PyTorch $([ -n "$TJ" ] && jget "$TJ" precision || echo -);" \
         "BatchNorm folded for predict: yoloc $(jget "$YJ" bn_folded), PyTorch $([ -n "$TJ" ] && jget "$TJ" bn_folded || echo -))"
done
echo
echo "load average after: $(load); logs and JSON in $DIR"
exit $rc
