package cluster

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
)

// outbox queues deliveries for one destination node and publishes them in
// order, batched: whatever queued while the last publish was in flight goes
// in the next envelope. Bounded in bytes; overflow is dropped and counted
// (the receiver repairs the gap from the room store).
type outbox struct {
	node     string
	t        *transport
	m        *metrics
	maxBytes int

	mu     sync.Mutex
	items  []*cpb.Delivery
	bytes  int
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

// maxEnvelopeBytes bounds one published envelope.
const maxEnvelopeBytes = 512 << 10

// newOutbox builds an outbox; start starts its publisher, close stops it.
func newOutbox(node string, t *transport, m *metrics, maxBytes int) *outbox {
	return &outbox{node: node, t: t, m: m, maxBytes: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// start runs the publisher goroutine; close waits for it to end.
func (o *outbox) start() { go o.run() }

// put queues a delivery without blocking; false if dropped.
func (o *outbox) put(d *cpb.Delivery) bool {
	n := len(d.Message) + len(d.Room) + 8
	o.mu.Lock()
	if o.closed || o.bytes+n > o.maxBytes {
		o.mu.Unlock()
		o.m.outboxDrops.Inc()
		return false
	}
	o.items = append(o.items, d)
	o.bytes += n
	select { // under mu: close cannot close wake meanwhile
	case o.wake <- struct{}{}:
	default:
	}
	o.mu.Unlock()
	return true
}

func (o *outbox) run() {
	defer close(o.done)
	for range o.wake {
		o.flush()
	}
	o.flush()
}

// flush publishes everything queued.
func (o *outbox) flush() {
	for {
		o.mu.Lock()
		if len(o.items) == 0 {
			o.mu.Unlock()
			return
		}
		// Take up to maxEnvelopeBytes, in order.
		size, k := 0, 0
		for k < len(o.items) && (k == 0 || size < maxEnvelopeBytes) {
			size += len(o.items[k].Message) + len(o.items[k].Room) + 8
			k++
		}
		batch := make([]*cpb.Delivery, k)
		copy(batch, o.items[:k])
		n := copy(o.items, o.items[k:])
		clear(o.items[n:])
		o.items = o.items[:n]
		o.bytes -= size
		o.mu.Unlock()
		o.publish(batch)
	}
}

func (o *outbox) publish(batch []*cpb.Delivery) {
	env := &cpb.Envelope{Body: &cpb.Envelope_Deliveries{Deliveries: &cpb.Deliveries{Items: batch}}}
	// On the outbox's own goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(o.t.ctx, 5*time.Second)
	defer cancel()
	if err := o.t.send(ctx, o.node, env); err != nil {
		o.m.outboxDrops.Add(float64(len(batch)))
		o.t.log.Debug("deliveries lost", "to", o.node, "n", len(batch), "bytes", proto.Size(env), "err", err)
		return
	}
	o.m.publishes.Inc()
}

// close publishes what is queued, then stops.
func (o *outbox) close() {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.wake)
	}
	o.mu.Unlock()
	<-o.done
}
