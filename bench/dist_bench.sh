#!/bin/sh
# Data-parallel throughput on one machine: 1 process x 2 threads (batch 16)
# against 2 MPI processes x 1 thread (batch 8 each), the same effective batch
# of 16 (nbs=16, so no accumulation), YOLOv8n on the synthetic set at 320,
# one epoch without validation. Repeats alternate the two set-ups; prints the
# median images/s over optimizer steps (the first 2 of each run left out),
# and the communication line the trainer prints for 2 processes.
# usage: sh bench/dist_bench.sh [build/yoloc] [repeats=3] [images=384]
# mpirun as root needs --allow-run-as-root; 2 ranks on 2 cores, --oversubscribe
# keeps it working on smaller machines.
set -e
Y=$(realpath "${1:-build/yoloc}")
R=${2:-3}
N=${3:-384}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
common="data=synth:images=$N,imgsz=320 imgsz=320 epochs=1 nbs=16 val=False plots=False workers=1 project=$W exist_ok=True seed=0"
med() { # median img_s of a steps.csv, steps >= 2
    awk -F, 'NR>1 && $1>=2 {print $11}' "$1" | sort -g | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
i=1
while [ "$i" -le "$R" ]; do
    "$Y" train $common batch=16 threads=2 name=a$i > "$W/a$i.log" 2>&1
    mpirun --allow-run-as-root --oversubscribe -np 2 "$Y" train $common batch=8 threads=1 name=b$i > "$W/b$i.log" 2>&1
    echo "repeat $i: 1 process x 2 threads: $(med "$W/a$i/steps.csv") img/s; 2 processes x 1 thread: $(med "$W/b$i/steps.csv") img/s"
    grep '^processes:' "$W/b$i.log" | sed 's/^/    /'
    i=$((i + 1))
done
