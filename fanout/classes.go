package fanout

import (
	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Traffic classes downstream (docs/traffic-classes.md). The room service
// sets each message's class; here the classes decide what a viewer loses
// first when it cannot have everything:
//
//   - low (likes, join notices, effects) goes first. A viewer more than
//     Config.LowWindow seqs behind the head skips the older low messages
//     (Notify and PullResult), and while the pacer stretches a room's
//     interval past its floor a Notify carries no low message at all.
//     Both are counted as missed, and as shed.
//   - normal goes next: only when the ring evicts it (a viewer more than
//     RingSize seqs behind).
//   - high travels in the priority lane (the room service puts it there),
//     which no lower class can evict.

// numClasses is the number of pb.RoomMessage_Class values.
const numClasses = 3

// shedLowBefore is the highest seq whose low-class messages a read at head
// skips: all of them when stretched, else those more than lowWindow seqs
// behind the head (0: none).
func shedLowBefore(head uint64, lowWindow int, stretched bool) uint64 {
	switch {
	case stretched:
		return head
	case head > uint64(lowWindow):
		return head - uint64(lowWindow)
	}
	return 0
}

// classMetrics count what viewers were given and shed, by class.
type classMetrics struct {
	delivered *prometheus.CounterVec // class
	shed      prometheus.Counter
	skipped   prometheus.Counter // capped viewers (cap.go)
}

func newClassMetrics() classMetrics {
	m := classMetrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "class_delivered_total",
			Help: "Room messages delivered to viewers (in Notify and PullResult frames), by traffic class (high, normal, low).",
		}, []string{"class"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "low_shed_total",
			Help: "Low-class messages viewers were not given (counted missed) because they were behind by more than fanout.low_window or the pacer was stretching.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "capped_skipped_total",
			Help: "Normal and low-class messages viewers with a cap (Join.max_rate) were not given (counted missed) because their cap was spent.",
		}),
	}
	for _, c := range []string{"high", "normal", "low"} {
		m.delivered.WithLabelValues(c)
	}
	return m
}

func (m classMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.delivered, m.shed, m.skipped}
}

// countClasses adds one frame's (or round's) counts.
func (m *metrics) countClasses(classes *[numClasses]int, shed int) {
	for i, n := range classes {
		if n > 0 {
			m.classes.delivered.WithLabelValues(classLabel(pb.RoomMessage_Class(i))).Add(float64(n))
		}
	}
	if shed > 0 {
		m.classes.shed.Add(float64(shed))
	}
}

func classLabel(c pb.RoomMessage_Class) string {
	switch c {
	case pb.RoomMessage_HIGH:
		return "high"
	case pb.RoomMessage_LOW:
		return "low"
	}
	return "normal"
}
