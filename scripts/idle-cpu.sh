#!/bin/sh
# Idle CPU of a node with parked viewers (BENCHMARKS.md, "Idle node").
#   scripts/idle-cpu.sh ROOMCAST ROOMCAST_BENCH [VIEWERS] [SECONDS] [PORT]
# Starts ROOMCAST with configs/bench.yaml, parks VIEWERS (default 1000)
# viewers in one room with roomcast-bench (which then publishes at
# 0.001 msg/s: nothing in the window), waits 10 s for the ramp to settle,
# and prints the server's CPU seconds (utime + stime from /proc/PID/stat)
# over SECONDS (default 30) and the share of one core.
set -eu
srv=$1 bench=$2 n=${3:-1000} secs=${4:-30} port=${5:-18431}
cd "$(dirname "$0")/.."
"$srv" -config configs/bench.yaml -listen 127.0.0.1:$port >/dev/null 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; kill $bpid 2>/dev/null' EXIT
sleep 1
"$bench" --url ws://127.0.0.1:$port/ws --viewers $n --rate 0.001 \
	--duration $((secs + 30))s --drain 1s >/dev/null 2>&1 &
bpid=$!
sleep 10
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$spid/stat; }
a=$(cpu)
sleep "$secs"
b=$(cpu)
echo "$n viewers, ${secs}s idle: server CPU $(echo "($b - $a) / $tck" | bc -l | cut -c1-6) s, $(echo "($b - $a) / $tck / $secs * 100" | bc -l | cut -c1-5) % of one core"
