package offline

import "github.com/prometheus/client_golang/prometheus"

// Store operations, as counted by store_writes_total.
const (
	opAppend = "append" // one entry stored (a send or a recall)
	opIndex  = "index"  // a user's conversation index touched
	opCursor = "cursor" // cursors moved (Ack, PullAll acks, implicit acks)
	opGroup  = "group"  // group membership changed
)

var storeOps = []string{opAppend, opIndex, opCursor, opGroup}

type metrics struct {
	writes     *prometheus.CounterVec // op
	messages   *prometheus.CounterVec // type
	duplicates prometheus.Counter
	pushes     prometheus.Counter
	unavail    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "offline", Name: name, Help: help})
	}
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "offline", Name: "store_writes_total",
			Help: "Store calls that write, by operation (append, index, cursor, group). A group send is one append, whatever the group's size.",
		}, []string{"op"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "offline", Name: "messages_total",
			Help: "Messages stored, by conversation type (direct, group).",
		}, []string{"type"}),
		duplicates: c("duplicates_total", "Resends answered with the original message (same sender and client_msg_id)."),
		pushes:     c("live_pushes_total", "Connections a conversation entry or receipt was pushed to live."),
		unavail:    c("store_unavailable_total", "Operations refused because the store refused or failed (nothing acknowledged)."),
	}
	for _, op := range storeOps {
		m.writes.WithLabelValues(op)
	}
	m.messages.WithLabelValues("direct")
	m.messages.WithLabelValues("group")
	if reg != nil {
		for _, col := range []prometheus.Collector{m.writes, m.messages, m.duplicates, m.pushes, m.unavail} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
