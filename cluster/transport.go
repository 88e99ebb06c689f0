package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/internal/shard"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Errors of the transport.
var (
	// ErrNoReceiver: nobody listens on the destination's channel (the node
	// is down or not subscribed yet).
	ErrNoReceiver = errcode.New(pb.Error_UNAVAILABLE, "cluster_no_receiver", "cluster: destination node not listening")
	// ErrPublish: the publish to the destination failed (Redis unreachable
	// or refusing); it wraps the cause.
	ErrPublish = errcode.New(pb.Error_UNAVAILABLE, "cluster_publish", "cluster: publish failed")
	// ErrTimeout: no reply within the RPC timeout.
	ErrTimeout = errcode.New(pb.Error_UNAVAILABLE, "cluster_timeout", "cluster: request timed out")
)

// handler runs an incoming envelope (on a worker goroutine) and returns
// the reply body for a request (nil for one-way messages).
type handler func(env *cpb.Envelope) *cpb.Envelope

// transport is one node's end of the Redis pub/sub mesh.
type transport struct {
	ctx     context.Context // the node's: the parent of the replies' sends
	rdb     redis.UniversalClient
	prefix  string
	self    string
	log     *slog.Logger
	metrics *metrics
	handle  handler

	ps      *redis.PubSub
	nextID  atomic.Uint64 // starts at the clock: ids differ across restarts (replyMemo)
	memo    replyMemo     // requests sent again with their id run once
	pmu     sync.Mutex
	pending map[uint64]chan *cpb.Envelope
	// late: requests given up (callResend) whose reply, should it come
	// after all, goes to a function; forgotten after replyMemoTTL.
	late      map[uint64]lateReply
	lateOrder []uint64

	// The drainer hands deliveries to per-room workers (ordered per room)
	// and requests to a pool; both bounded, overflow counted.
	deliverQ []chan *cpb.Envelope
	requestQ chan *cpb.Envelope

	wg sync.WaitGroup
}

const (
	deliverWorkers = 4
	requestWorkers = 8
	queueLen       = 4096
)

func nodeChannel(prefix, node string) string { return prefix + "node:{" + node + "}" }

func newTransport(ctx context.Context, rdb redis.UniversalClient, prefix, self string, log *slog.Logger, m *metrics, h handler) *transport {
	t := &transport{ctx: ctx, rdb: rdb, prefix: prefix, self: self, log: log, metrics: m, handle: h,
		pending: make(map[uint64]chan *cpb.Envelope), late: make(map[uint64]lateReply), requestQ: make(chan *cpb.Envelope, queueLen)}
	t.nextID.Store(uint64(time.Now().UnixNano()))
	for i := 0; i < deliverWorkers; i++ {
		t.deliverQ = append(t.deliverQ, make(chan *cpb.Envelope, queueLen))
	}
	return t
}

// start subscribes to this node's channel and starts the drainer and the
// workers. They stop when close is called.
func (t *transport) start(ctx context.Context) error {
	t.ps = t.rdb.SSubscribe(ctx, nodeChannel(t.prefix, t.self))
	if _, err := t.ps.Receive(ctx); err != nil {
		_ = t.ps.Close()
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	msgs := t.ps.Channel(redis.WithChannelSize(queueLen))
	t.wg.Add(1)
	go func() { defer t.wg.Done(); t.drain(msgs) }()
	for _, q := range t.deliverQ {
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.work(q) }()
	}
	for i := 0; i < requestWorkers; i++ {
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.work(t.requestQ) }()
	}
	return nil
}

// close unsubscribes and waits for the drainer and workers.
func (t *transport) close() {
	if t.ps == nil {
		return
	}
	_ = t.ps.Close() // closes the message channel: the drainer ends
	t.wg.Wait()
}

// drain decodes what arrives and only hands it off.
func (t *transport) drain(msgs <-chan *redis.Message) {
	defer func() {
		for _, q := range t.deliverQ {
			close(q)
		}
		close(t.requestQ)
	}()
	for msg := range msgs {
		env := new(cpb.Envelope)
		if err := proto.Unmarshal([]byte(msg.Payload), env); err != nil {
			t.metrics.received.WithLabelValues("malformed").Inc()
			continue
		}
		if env.Reply {
			t.pmu.Lock()
			ch := t.pending[env.Id]
			delete(t.pending, env.Id)
			l, isLate := t.late[env.Id]
			delete(t.late, env.Id)
			if ch != nil {
				ch <- env // 1 buffered, one reply per id: under pmu, so giveUp sees it
			}
			t.pmu.Unlock()
			if isLate {
				l.fn(env)
			}
			t.metrics.received.WithLabelValues("reply").Inc()
			continue
		}
		if d := env.GetDeliveries(); d != nil {
			t.metrics.received.WithLabelValues("deliveries").Inc()
			t.splitDeliveries(env.From, d)
			continue
		}
		t.metrics.received.WithLabelValues("request").Inc()
		select {
		case t.requestQ <- env:
		default:
			t.metrics.queueDrops.WithLabelValues("request").Inc()
		}
	}
}

// splitDeliveries routes each room's deliveries to the worker that owns
// the room, so one room's messages are applied in order.
func (t *transport) splitDeliveries(from string, d *cpb.Deliveries) {
	parts := make([][]*cpb.Delivery, deliverWorkers)
	for _, it := range d.Items {
		i := shard.Index(it.Room, deliverWorkers)
		parts[i] = append(parts[i], it)
	}
	for i, items := range parts {
		if len(items) == 0 {
			continue
		}
		env := &cpb.Envelope{From: from, Body: &cpb.Envelope_Deliveries{Deliveries: &cpb.Deliveries{Items: items}}}
		select {
		case t.deliverQ[i] <- env:
		default:
			// The receiver repairs the gap from the room store on the
			// room's next delivery.
			t.metrics.queueDrops.WithLabelValues("deliveries").Add(float64(len(items)))
		}
	}
}

func (t *transport) work(q <-chan *cpb.Envelope) {
	for env := range q {
		if resendable(env) {
			t.runOnce(env)
			continue
		}
		reply := t.handle(env)
		if reply == nil || env.Id == 0 {
			continue
		}
		reply.Id, reply.Reply = env.Id, true
		// On a transport worker goroutine, which owns its lifetime.
		ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
		if err := t.send(ctx, env.From, reply); err != nil {
			t.log.Debug("reply lost", "to", env.From, "err", err)
		}
		cancel()
	}
}

// runOnce runs a request its sender may send again (resendable) the first
// time it comes and remembers the encoded reply: a copy that comes while
// it runs is dropped (the reply answers it too), one that comes after gets
// the same reply again (the first may be lost).
func (t *transport) runOnce(env *cpb.Envelope) {
	first, data := t.memo.begin(env.From, env.Id)
	switch {
	case first:
		reply := t.handle(env)
		if reply == nil {
			t.memo.done(env.From, env.Id, nil)
			return
		}
		reply.Id, reply.Reply, reply.From = env.Id, true, t.self
		var err error
		if data, err = proto.Marshal(reply); err != nil {
			t.log.Error("encode reply", "err", err)
			data = nil
		}
		t.memo.done(env.From, env.Id, data)
		if data == nil {
			return
		}
	case data == nil:
		t.metrics.duplicates.WithLabelValues("dropped").Inc()
		return
	default:
		t.metrics.duplicates.WithLabelValues("replayed").Inc()
	}
	// On a transport worker goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
	defer cancel()
	if err := t.publish(ctx, env.From, data); err != nil {
		t.log.Debug("reply lost", "to", env.From, "err", err)
	}
}

// resendable: requests their senders send again with the same id when
// unanswered (callResend), which therefore run once (replyMemo).
func resendable(env *cpb.Envelope) bool {
	return env.Id != 0 && env.GetJoinBatch() != nil
}

// send publishes one envelope to a node.
func (t *transport) send(ctx context.Context, node string, env *cpb.Envelope) error {
	env.From = t.self
	data, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	return t.publish(ctx, node, data)
}

// publish sends an encoded envelope to a node.
func (t *transport) publish(ctx context.Context, node string, data []byte) error {
	start := time.Now()
	n, err := t.rdb.SPublish(ctx, nodeChannel(t.prefix, node), data).Result()
	t.metrics.redisLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		t.metrics.redisErrors.Inc()
		return fmt.Errorf("%w: to %s: %w", ErrPublish, node, err)
	}
	if n == 0 {
		return ErrNoReceiver
	}
	return nil
}

type lateReply struct {
	fn func(*cpb.Envelope)
	at time.Time
}

// callResend sends a request and waits for its reply until ctx ends,
// sending the same request (same id: the receiver runs it once, see
// replyMemo) again each time every passes without a reply. Only the
// first send's error is returned as such (the request surely did not
// arrive when it is ErrNoReceiver); a later send that fails is counted and
// waited past, since an earlier copy may be running. When ctx ends first,
// a reply that comes later (within replyMemoTTL) goes to late, on the
// transport's drainer: late must be quick.
func (t *transport) callResend(ctx context.Context, node string, env *cpb.Envelope, every time.Duration, late func(*cpb.Envelope)) (*cpb.Envelope, error) {
	id := t.nextID.Add(1)
	ch := make(chan *cpb.Envelope, 1)
	t.pmu.Lock()
	t.pending[id] = ch
	t.pmu.Unlock()
	defer func() {
		t.pmu.Lock()
		delete(t.pending, id)
		t.pmu.Unlock()
	}()
	env.Id = id
	start := time.Now()
	if err := t.send(ctx, node, env); err != nil {
		return nil, err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case r := <-ch:
			t.metrics.rpcLatency.Observe(time.Since(start).Seconds())
			return r, nil
		case <-ctx.Done():
			t.giveUp(id, ch, late)
			return nil, fmt.Errorf("%w: %s", ErrTimeout, node)
		case <-tick.C:
			t.metrics.resends.Inc()
			if err := t.send(ctx, node, env); err != nil {
				t.log.Debug("resend failed", "to", node, "err", err)
			}
		}
	}
}

// giveUp hands what may still come for request id to late: a reply that
// raced the give-up (already in ch) at once, a later one from the
// drainer.
func (t *transport) giveUp(id uint64, ch chan *cpb.Envelope, late func(*cpb.Envelope)) {
	now := time.Now()
	t.pmu.Lock()
	delete(t.pending, id)
	select {
	case r := <-ch:
		t.pmu.Unlock()
		late(r)
		return
	default:
	}
	i := 0
	for ; i < len(t.lateOrder); i++ {
		l, ok := t.late[t.lateOrder[i]]
		if ok && now.Sub(l.at) < replyMemoTTL {
			break
		}
		delete(t.late, t.lateOrder[i])
	}
	t.lateOrder = append(t.lateOrder[i:], id)
	t.late[id] = lateReply{fn: late, at: now}
	t.pmu.Unlock()
}

// call sends a request and waits for its reply.
func (t *transport) call(ctx context.Context, node string, env *cpb.Envelope) (*cpb.Envelope, error) {
	id := t.nextID.Add(1)
	ch := make(chan *cpb.Envelope, 1)
	t.pmu.Lock()
	t.pending[id] = ch
	t.pmu.Unlock()
	defer func() {
		t.pmu.Lock()
		delete(t.pending, id)
		t.pmu.Unlock()
	}()
	env.Id = id
	start := time.Now()
	if err := t.send(ctx, node, env); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		t.metrics.rpcLatency.Observe(time.Since(start).Seconds())
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s", ErrTimeout, node)
	}
}
