# Source this before starting roomcast nodes for a benchmark:
#   . scripts/bench-env.sh          one node on this box
#   . scripts/bench-env.sh 6        six nodes sharing this box
# It lifts the per-client limits (they defend against hostile clients; a
# load tool with 100k viewers on one address is not one) and quiets the
# log. No notification budget is set: each node measures what it affords
# (its CPU per Notify, and how late its dispatcher rounds start when the
# box is shared) and stretches its notify interval by itself.
export ROOMCAST_LOG_LEVEL=warn
export ROOMCAST_GATEWAY_MAX_CONNS_PER_IP=-1
export ROOMCAST_GATEWAY_JOIN_RATE_PER_USER=-1 ROOMCAST_GATEWAY_JOIN_RATE_PER_IP=-1
export ROOMCAST_GATEWAY_SEND_RATE=100000 ROOMCAST_GATEWAY_SEND_BURST=100000
export ROOMCAST_GATEWAY_FRAME_RATE=200000 ROOMCAST_GATEWAY_FRAME_BURST=200000
export ROOMCAST_GATEWAY_PING_INTERVAL=5m ROOMCAST_GATEWAY_IDLE_TIMEOUT=15m
export ROOMCAST_GATEWAY_AUTH_TIMEOUT=1m ROOMCAST_GATEWAY_WRITE_TIMEOUT=30s
export ROOMCAST_ROOM_RATE=100000 ROOMCAST_ROOM_BURST=10000
rc_bench_nodes=${1:-1}
if [ "$rc_bench_nodes" -gt 1 ]; then
	# Big rooms on a shared box may be notified less often than once a
	# second (a cap on the pacer's stretch, not a budget).
	export ROOMCAST_FANOUT_NOTIFY_MAX_INTERVAL=${NOTIFY_MAX_INTERVAL:-10s}
	# A ZooKeeper session must survive the CPU starvation of a full box.
	export ROOMCAST_CLUSTER_SESSION_TIMEOUT=${SESSION_TIMEOUT:-20s}
fi
unset rc_bench_nodes
