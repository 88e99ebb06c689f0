# Source this before starting roomcast nodes for a benchmark:
#   . scripts/bench-env.sh          one node on this box
#   . scripts/bench-env.sh 6        six nodes sharing this box
# It lifts the per-client limits (they defend against hostile clients; a
# load tool with 100k viewers on one address is not one), quiets the log,
# and splits the box's notification budget between the nodes that share
# it (fanout.notify.node_budget is per node and assumes the node has the
# machine to itself: six nodes with the default each would ask two cores
# for six times what they can do, and every round would queue).
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
	# BOX_NOTIFY_BUDGET: notifications per second the whole box sustains
	# with the load tool on the same cores (default 40000 for two cores).
	export ROOMCAST_FANOUT_NOTIFY_NODE_BUDGET=$(( ${BOX_NOTIFY_BUDGET:-40000} / rc_bench_nodes ))
	# Big rooms on a shared box are notified less often than once a second.
	export ROOMCAST_FANOUT_NOTIFY_MAX_INTERVAL=${NOTIFY_MAX_INTERVAL:-10s}
	# A ZooKeeper session must survive the CPU starvation of a full box.
	export ROOMCAST_CLUSTER_SESSION_TIMEOUT=${SESSION_TIMEOUT:-20s}
fi
unset rc_bench_nodes
