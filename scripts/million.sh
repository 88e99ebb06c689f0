#!/usr/bin/env bash
# The 1M-viewer run of docs/load-tool.md ("100k and 1M viewers on one box"):
# a local cluster of NODES connection nodes and a room node, PROCS load
# workers, one room, one priority notice; the ramp ends by itself when the
# number connected stops growing (--ramp-stall), so the run always goes on
# to the notice and writes its JSON report. Every INTERVAL seconds it
# records what tells CPU starvation from queueing (BENCHMARKS.md,
# "1,000,000 WebSocket viewers on one box"): the run-queue wait and CPU of
# the room node and Redis, cluster metrics of the room node and three
# connection nodes, the load average, the box's CPU and the kernel's
# socket counts.
#
#   scripts/million.sh                          the 1M attempt (56 + 1 nodes, 56 workers)
#   VIEWERS=2000 NODES=2 scripts/million.sh     the same machinery, small
#
# Settings (environment; defaults are the 1M attempt's):
#   VIEWERS=1000000  NODES=56  PROCS=$NODES  RAMP=1000  CONCURRENCY=32
#   RAMP_STALL=60s   RAMP_DEADLINE=(none)    REPORT_EVERY=10s
#   DURATION=3s      DRAIN=120s              INTERVAL=10 (seconds)
#   READY_TIMEOUT=600 (seconds for every node to answer /readyz 200)
#   SERVER_BIN, BENCH_BIN      the roomcast and roomcast-bench binaries
#                              (default: built into $OUT/bin; not ROOMCAST_*:
#                              the nodes refuse ROOMCAST_ variables they do not know)
#   OUT=/tmp/million-<UTC time>   CLUSTER_DIR=$OUT/cluster (fresh by default)
#   EXTRA="..."                   more roomcast-bench flags
#   ROOM_NICE=(none)              nice value for the room node, Redis and
#                                 ZooKeeper (all threads), e.g. -10
#
# Ports: the nodes listen on 127.0.0.1:8081..8081+NODES, Redis on 26379 and
# ZooKeeper on 22181 (configs/cluster-node1.yaml); the script stops if one
# is taken. It stops the cluster it started (and only that) when it ends.
#
# Output in $OUT:
#   report.json      the roomcast-bench/v1 report (connect.ramp_end says
#                    whether the ramp completed, stalled or hit its deadline)
#   bench.log        the tool's table and progress lines (stderr)
#   summary.txt      the headline figures, from report.json
#   command.txt, machine.txt, cluster.out   what ran, on what, the cluster's own lines
#   sched.tsv        per sample and process (room, redis): threads, the
#                    leader thread's /proc/PID/schedstat (run ns, run-queue
#                    wait ns, timeslices), the same summed over every thread
#                    (/proc/PID/task/*/schedstat: a Go process runs on many
#                    threads, the leader's line is only one of them), utime
#                    and stime (clock ticks, CLK_TCK in machine.txt), RSS KiB
#   metrics/<node>.tsv   time + the /metrics lines of roomcast_cluster_rpc_seconds,
#                    _rpcs_total, _redis_publish_seconds, _request_resends_total,
#                    _duplicate_requests_total, _viewer_resyncs_total, _fenced,
#                    _fenced_refusals_total, roomcast_room_fenced_writes_total,
#                    roomcast_gateway_closes_total (by reason: what closed
#                    viewers), roomcast_gateway_connections and
#                    roomcast_zookeeper_fences_total of noderoom and three
#                    connection nodes
#   scrapes.tsv      each /metrics request: node, HTTP status, seconds
#   loadavg.tsv, cpu.tsv, sockstat.tsv   /proc/loadavg, the box's /proc/stat
#                    cpu line (ticks), /proc/net/sockstat (sockets used, TCP
#                    inuse, orphan, tw, alloc, mem pages)
#   netstat.tsv      the kernel's TCP counters that say how connections end
#                    (/proc/net/netstat TcpExt, /proc/net/snmp Tcp; cumulative
#                    since boot): aborts on timeout, data, close, memory;
#                    memory pressure, prunes and queue drops; keep-alive
#                    probes; retransmission timeouts; resets sent and
#                    received; listen overflows
set -u
cd "$(dirname "$0")/.."
repo=$(pwd)

VIEWERS=${VIEWERS:-1000000}
NODES=${NODES:-56}
PROCS=${PROCS:-$NODES}
RAMP=${RAMP:-1000}
CONCURRENCY=${CONCURRENCY:-32}
RAMP_STALL=${RAMP_STALL:-60s}
RAMP_DEADLINE=${RAMP_DEADLINE:-}
REPORT_EVERY=${REPORT_EVERY:-10s}
DURATION=${DURATION:-3s}
DRAIN=${DRAIN:-120s}
INTERVAL=${INTERVAL:-10}
READY_TIMEOUT=${READY_TIMEOUT:-600}
OUT=${OUT:-/tmp/million-$(date -u +%Y%m%dT%H%M%SZ)}
CLUSTER_DIR=${CLUSTER_DIR:-$OUT/cluster}
EXTRA=${EXTRA:-}
SECRET=local-cluster-example-secret-change-me-0000 # configs/cluster-node1.yaml's

die() { echo "million.sh: $*" >&2; exit 1; }
[ "$PROCS" -ge 1 ] && [ "$PROCS" -le 254 ] || die "PROCS=$PROCS: 1..254 (one source address 127.0.0.x each)"
mkdir -p "$OUT/metrics" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)

# Ports.
room_port=$((8081 + NODES))
for p in $(seq 8081 "$room_port") 26379 22181; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		die "port $p is taken: another cluster or node runs on this box"
	fi
done

# Binaries.
if [ -z "${SERVER_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
	mkdir -p "$OUT/bin"
	echo "building into $OUT/bin" >&2
	go build -o "$OUT/bin/roomcast" ./cmd/roomcast || die "build roomcast"
	go build -o "$OUT/bin/roomcast-bench" ./cmd/roomcast-bench || die "build roomcast-bench"
	SERVER_BIN=${SERVER_BIN:-$OUT/bin/roomcast}
	BENCH_BIN=${BENCH_BIN:-$OUT/bin/roomcast-bench}
fi

# What the box is.
tck=$(getconf CLK_TCK)
{
	echo "date_utc $(date -u +%FT%TZ)"
	echo "uname $(uname -srm)"
	echo "cpus $(nproc)"
	echo "cpu_model $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "mem_total_kib $(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
	echo "clk_tck $tck"
	echo "ulimit_n $(ulimit -n)"
	echo "loadavg_before $(cat /proc/loadavg)"
	for k in net/core/somaxconn net/ipv4/ip_local_port_range net/ipv4/tcp_mem net/ipv4/tcp_max_syn_backlog fs/file-max; do
		echo "$k $(tr '\t' ' ' < /proc/sys/$k 2>/dev/null)"
	done
	echo "git $(git -C "$repo" rev-parse HEAD 2>/dev/null) $(git -C "$repo" status --porcelain 2>/dev/null | wc -l) uncommitted files"
	echo "roomcast $SERVER_BIN"
	echo "roomcast-bench $BENCH_BIN"
} > "$OUT/machine.txt"

# The cluster (docs/load-tool.md's 1M command).
export ROOMCAST_FANOUT_RING_SIZE=32
. scripts/bench-env.sh "$NODES"
cpid=
spid=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$spid" ]; then kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; fi
	if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
		echo "stopping the cluster (pid $cpid)" >&2
		kill -TERM "$cpid" 2>/dev/null
		wait "$cpid" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$SERVER_BIN" cluster -nodes "$NODES" -room-node -dir "$CLUSTER_DIR" > "$OUT/cluster.out" 2>&1 &
cpid=$!
echo "cluster pid $cpid, $NODES connection nodes + noderoom, dir $CLUSTER_DIR" >&2

deadline=$(( $(date +%s) + READY_TIMEOUT ))
while :; do
	kill -0 "$cpid" 2>/dev/null || die "the cluster exited: see $OUT/cluster.out"
	if failed=$(grep -m1 -o 'node [a-z0-9]* exited: .*(log [^)]*)' "$OUT/cluster.out"); then
		log=${failed##*(log }
		die "before every node was ready, $failed: $(tail -n 1 "${log%)}")"
	fi
	ready=0
	for p in $(seq 8081 "$room_port"); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$p/readyz")" = 200 ] && ready=$((ready + 1))
	done
	[ "$ready" -eq $((NODES + 1)) ] && break
	[ "$(date +%s)" -lt "$deadline" ] || die "$ready of $((NODES + 1)) nodes ready after ${READY_TIMEOUT}s"
	sleep 2
done
echo "every node ready after $(( $(date +%s) - deadline + READY_TIMEOUT ))s" >&2

# The cluster's processes: its children (never other clusters' nodes).
children() { ps -o pid=,args= --ppid "$cpid"; }
node_pids=$(children | awk '/ serve -config / {print $1}')
[ "$(echo "$node_pids" | wc -w)" -eq $((NODES + 1)) ] || die "found $(echo "$node_pids" | wc -w) node processes, want $((NODES + 1))"

# ROOM_NICE (e.g. -10): run the room node, Redis and ZooKeeper at this
# nice value, every thread of them (a Go process runs on many), so 100+
# busy processes on a small box do not starve the ones every join
# crosses: what a deployment gets by giving them cores of their own.
if [ -n "${ROOM_NICE:-}" ]; then
	for p in $(children | awk '/ serve -config .*noderoom\.yaml/ || $2 ~ /redis-server/ || /zookeeper|QuorumPeerMain/ {print $1}'); do
		for t in /proc/"$p"/task/*; do renice -n "$ROOM_NICE" -p "${t##*/}" > /dev/null; done
		echo "reniced pid $p ($(ps -o comm= -p "$p")) to $ROOM_NICE" >&2
	done
fi

# Nodes whose metrics are kept: the room node and three connection nodes.
scraped=$(printf '%s\n' 1 $(( (NODES + 1) / 2 )) "$NODES" | sort -nu | sed 's/^/node/')
scraped="noderoom $scraped"
port_of() { case $1 in noderoom) echo "$room_port" ;; node*) echo $((8080 + ${1#node})) ;; esac; }
metric_re='^roomcast_(cluster_(rpc_seconds|rpcs_total|redis_publish_seconds|request_resends_total|duplicate_requests_total|viewer_resyncs_total|fenced|fenced_refusals_total)|room_fenced_writes_total|gateway_(closes_total|connections )|zookeeper_fences_total)'

printf 't_unix\trole\tpid\tthreads\tleader_run_ns\tleader_wait_ns\tleader_slices\tsum_run_ns\tsum_wait_ns\tsum_slices\tutime_ticks\tstime_ticks\trss_kib\n' > "$OUT/sched.tsv"
printf 't_unix\tload1\tload5\tload15\trunnable_total\tlast_pid\n' > "$OUT/loadavg.tsv"
printf 't_unix\tuser\tnice\tsystem\tidle\tiowait\tirq\tsoftirq\tsteal\n' > "$OUT/cpu.tsv"
printf 't_unix\tsockets_used\ttcp_inuse\ttcp_orphan\ttcp_tw\ttcp_alloc\ttcp_mem_pages\n' > "$OUT/sockstat.tsv"
printf 't_unix\tnode\thttp_status\tseconds\n' > "$OUT/scrapes.tsv"
netstat_keys="TcpExt:TCPAbortOnTimeout TcpExt:TCPAbortOnData TcpExt:TCPAbortOnClose TcpExt:TCPAbortOnMemory TcpExt:TCPAbortFailed TcpExt:TCPMemoryPressures TcpExt:PruneCalled TcpExt:RcvPruned TcpExt:TCPRcvQDrop TcpExt:TCPBacklogDrop TcpExt:TCPZeroWindowDrop TcpExt:TCPKeepAlive TcpExt:TCPTimeouts TcpExt:ListenOverflows TcpExt:ListenDrops Tcp:EstabResets Tcp:OutRsts Tcp:RetransSegs Tcp:CurrEstab"
printf 't_unix\t%s\n' "$(echo $netstat_keys | tr ' ' '\t')" > "$OUT/netstat.tsv"

# proc_line T ROLE PID: one sched.tsv line.
proc_line() {
	local t=$1 role=$2 pid=$3
	if [ -z "$pid" ] || [ ! -r "/proc/$pid/schedstat" ]; then
		printf '%s\t%s\t-\n' "$t" "$role"
		return
	fi
	local leader sum stat
	leader=$(tr ' ' '\t' < "/proc/$pid/schedstat")
	sum=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{r += $1; w += $2; s += $3; n++} END {printf "%d\t%.0f\t%.0f\t%.0f", n, r, w, s}')
	# /proc/PID/stat after the ")" of comm: utime is the 12th field, stime the 13th, rss (pages) the 22nd.
	stat=$(sed 's/.*) //' "/proc/$pid/stat" | awk -v pg="$(getconf PAGESIZE)" '{printf "%s\t%s\t%d", $12, $13, $22 * pg / 1024}')
	local threads=${sum%%$'\t'*}
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$role" "$pid" "$threads" "$leader" "${sum#*$'\t'}" "$stat"
}

sample() {
	local t kids redis room n port scrapes=()
	t=$(date +%s)
	kids=$(children)
	redis=$(echo "$kids" | awk '$2 ~ /redis-server/ {print $1; exit}')
	room=$(echo "$kids" | awk '/ serve -config .*noderoom\.yaml/ {print $1; exit}')
	{ proc_line "$t" room "$room"; proc_line "$t" redis "$redis"; } >> "$OUT/sched.tsv"
	awk -v t="$t" '{printf "%s\t%s\t%s\t%s\t%s\t%s\n", t, $1, $2, $3, $4, $5}' /proc/loadavg >> "$OUT/loadavg.tsv"
	awk -v t="$t" '$1 == "cpu" {printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, $2, $3, $4, $5, $6, $7, $8, $9}' /proc/stat >> "$OUT/cpu.tsv"
	awk -v t="$t" '$1 == "sockets:" {used = $3} $1 == "TCP:" {for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)}
		END {printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, used, v["inuse"], v["orphan"], v["tw"], v["alloc"], v["mem"]}' /proc/net/sockstat >> "$OUT/sockstat.tsv"
	# Each file is pairs of lines, names then values, both starting "Proto:".
	cat /proc/net/netstat /proc/net/snmp | awk -v t="$t" -v keys="$netstat_keys" '
		$1 == last {for (i = 2; i <= NF; i++) v[$1 names[i]] = $i; last = ""; next}
		{last = $1; for (i = 2; i <= NF; i++) names[i] = $i}
		END {n = split(keys, k, " "); printf "%s", t; for (i = 1; i <= n; i++) printf "\t%s", (k[i] in v) ? v[k[i]] : "-"; printf "\n"}' >> "$OUT/netstat.tsv"
	for n in $scraped; do
		port=$(port_of "$n")
		(
			res=$(curl -s -o "$OUT/metrics/.$n.prom" -w '%{http_code}\t%{time_total}' --max-time 8 "http://127.0.0.1:$port/metrics")
			printf '%s\t%s\t%s\n' "$t" "$n" "$res" >> "$OUT/scrapes.tsv"
			grep -E "$metric_re" "$OUT/metrics/.$n.prom" 2>/dev/null | sed "s/^/$t\t/" >> "$OUT/metrics/$n.tsv"
			rm -f "$OUT/metrics/.$n.prom"
		) &
		scrapes+=($!)
	done
	wait "${scrapes[@]}" # only these: the shell's other children are the cluster and the sampler
}

sampler() {
	local next
	next=$(date +%s)
	while :; do
		sample
		next=$((next + INTERVAL))
		while [ "$next" -le "$(date +%s)" ]; do next=$((next + INTERVAL)); done # behind: skip
		wait_s=$((next - $(date +%s)))
		[ "$wait_s" -le 0 ] || sleep "$wait_s" # a slow sample may have used it up
	done
}
sampler &
spid=$!

# The run.
urls=$(seq -f 'ws://127.0.0.1:%g/ws' 8081 $((8080 + NODES)) | paste -sd,)
args=(--url "$urls" --secret "$SECRET"
	--viewers "$VIEWERS" --procs "$PROCS" --src-ips "127.0.0.2-127.0.0.$((1 + PROCS))"
	--ramp "$RAMP" --connect-concurrency "$CONCURRENCY" --ramp-stall "$RAMP_STALL"
	--rate 1 --priority-ratio 1 --duration "$DURATION" --drain "$DRAIN"
	--report-every "$REPORT_EVERY" --progress --json)
[ -n "$RAMP_DEADLINE" ] && args+=(--ramp-deadline "$RAMP_DEADLINE")
for p in $node_pids; do args+=(--server-pid "$p"); done
# shellcheck disable=SC2206 # EXTRA is a list of flags
[ -n "$EXTRA" ] && args+=($EXTRA)
{
	echo "# $(date -u +%FT%TZ), in $repo"
	env | grep -E '^(ROOMCAST_|GOMAXPROCS=|GOGC=|GOMEMLIMIT=)' | sort | sed 's/^/export /'
	echo "$SERVER_BIN cluster -nodes $NODES -room-node -dir $CLUSTER_DIR &"
	printf '%q ' "$BENCH_BIN" "${args[@]}"
	echo "> report.json 2> bench.log"
} > "$OUT/command.txt"
echo "running: see $OUT/bench.log (samples every ${INTERVAL}s in $OUT)" >&2
"$BENCH_BIN" "${args[@]}" > "$OUT/report.json" 2> "$OUT/bench.log"
rc=$?
sample
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
spid=

if [ -s "$OUT/report.json" ]; then
	jq -r '"ramp         \(.connect.ramp_end): \(.connect.established) of \(.config.viewers) connected (\(.connect.failed) failed, \(.connect.cancelled) cancelled) in \(.connect.seconds) s; last growth at \(.connect.last_growth_s) s",
		"connect rate \(.connect.rate_per_s)/s; connect time p50 \(.connect.p50_ms) ms, p99 \(.connect.p99_ms) ms",
		"notice       \(.delivery.priority) of \(.delivery.priority_expected) expected (\(.publish.priority_accepted) accepted)\(if .publish.error then "; " + .publish.error else "" end)",
		"spread       p50 \(.priority_latency_ms.p50) ms, p99 \(.priority_latency_ms.p99) ms, max \(.priority_latency_ms.max) ms",
		"closed       \(.connect.closed_before_publish) before publishing; by code \(.delivery.closed | tostring); without a close frame \(.delivery.dropped // {} | tostring)",
		"RSS          servers \(.server.rss_bytes) B (\(.server.rss_bytes_per_viewer) B/viewer), tool \(.load.rss_bytes) B (\(.load.rss_bytes_per_viewer) B/viewer)"' \
		"$OUT/report.json" > "$OUT/summary.txt" 2>/dev/null
	echo "load average at the end: $(cat /proc/loadavg)" >> "$OUT/summary.txt"
	cat "$OUT/summary.txt" >&2
fi
echo "roomcast-bench exit $rc; output in $OUT" >&2
exit "$rc"
