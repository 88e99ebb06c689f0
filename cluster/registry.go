package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Registry is the session registry in Redis: user -> the nodes holding
// the user's connections. One hash per user, {u:<user>} hash tag:
//
//	<prefix>{u:<user>}:sess   field <node>/<conn>  value: expiry (unix ms)
//
// Entries are written on connect, refreshed every TTL/3 while the
// connection lives, removed on disconnect and on graceful shutdown; an
// entry of a node that died without cleaning up expires after TTL, and
// the Lookup that finds it expired deletes it. Lookup ignores (but keeps)
// entries of nodes that are not in the membership view. Writes are queued
// and applied by one writer goroutine in pipelines, so a connecting client
// never waits on Redis. Safe for concurrent use.
type Registry struct {
	rdb    redis.UniversalClient
	prefix string
	node   string
	ttl    time.Duration
	log    *slog.Logger
	// isMember reports whether a node is in the membership view (nil:
	// every node is).
	isMember func(node string) bool

	mu    sync.Mutex
	local map[string]map[uint64]struct{} // user -> conn ids on this node
	ops   []regOp
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	closeOnce sync.Once
}

type regOp struct {
	user string
	conn uint64
	add  bool
}

func newRegistry(rdb redis.UniversalClient, prefix, node string, ttl time.Duration, log *slog.Logger) *Registry {
	return &Registry{rdb: rdb, prefix: prefix, node: node, ttl: ttl, log: log,
		local: make(map[string]map[uint64]struct{}), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (r *Registry) key(user string) string { return r.prefix + "{u:" + user + "}:sess" }

func (r *Registry) field(conn uint64) string { return r.node + "/" + strconv.FormatUint(conn, 10) }

// Attach records a connection of user on this node.
func (r *Registry) Attach(user string, conn uint64) {
	r.queue(regOp{user: user, conn: conn, add: true})
}

// Detach removes it.
func (r *Registry) Detach(user string, conn uint64) { r.queue(regOp{user: user, conn: conn}) }

func (r *Registry) queue(op regOp) {
	r.mu.Lock()
	conns := r.local[op.user]
	if op.add {
		if conns == nil {
			conns = make(map[uint64]struct{}, 1)
			r.local[op.user] = conns
		}
		conns[op.conn] = struct{}{}
	} else if conns != nil {
		delete(conns, op.conn)
		if len(conns) == 0 {
			delete(r.local, op.user)
		}
	}
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Registry) start() { go r.run() }

func (r *Registry) run() {
	defer close(r.done)
	refresh := time.NewTicker(r.ttl / 3)
	defer refresh.Stop()
	for {
		select {
		case <-r.stop:
			r.flush()
			return
		case <-r.wake:
			r.flush()
		case <-refresh.C:
			r.refresh()
		}
	}
}

func (r *Registry) expiry() string {
	return strconv.FormatInt(time.Now().Add(r.ttl).UnixMilli(), 10)
}

// flush applies the queued writes in pipelines.
func (r *Registry) flush() {
	r.mu.Lock()
	ops := r.ops
	r.ops = nil
	r.mu.Unlock()
	if len(ops) == 0 {
		return
	}
	// On the registry's writer goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp := r.expiry()
	for len(ops) > 0 {
		batch := ops[:min(len(ops), 500)]
		ops = ops[len(batch):]
		pipe := r.rdb.Pipeline()
		for _, op := range batch {
			if op.add {
				pipe.HSet(ctx, r.key(op.user), r.field(op.conn), exp)
				pipe.PExpire(ctx, r.key(op.user), r.ttl)
			} else {
				pipe.HDel(ctx, r.key(op.user), r.field(op.conn))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			r.log.Warn("session registry write failed", "ops", len(batch), "err", err)
		}
	}
}

// refresh renews this node's entries.
func (r *Registry) refresh() {
	r.mu.Lock()
	var ops []regOp
	for user, conns := range r.local {
		for c := range conns {
			ops = append(ops, regOp{user: user, conn: c, add: true})
		}
	}
	r.ops = append(ops, r.ops...)
	r.mu.Unlock()
	r.flush()
}

// Lookup returns the member nodes holding live connections of user, and
// deletes the entries it finds expired.
func (r *Registry) Lookup(ctx context.Context, user string) ([]string, error) {
	key := r.key(user)
	fields, err := r.rdb.HGetAll(ctx, key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	now := time.Now().UnixMilli()
	seen := map[string]bool{}
	var nodes []string
	var expired []any
	for f, v := range fields {
		node, _, ok := strings.Cut(f, "/")
		exp, _ := strconv.ParseInt(v, 10, 64)
		if !ok || exp < now {
			expired = append(expired, f, v)
			continue
		}
		if seen[node] || (r.isMember != nil && !r.isMember(node)) {
			// Not a member (left, or not in this node's view yet): kept,
			// since a member refreshes its entries and a non-member's
			// expire.
			continue
		}
		seen[node] = true
		nodes = append(nodes, node)
	}
	if len(expired) > 0 {
		// Only if unchanged since read: a refresh meanwhile wins.
		if err := delIfUnchanged.Run(ctx, r.rdb, []string{key}, expired...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			r.log.Debug("session registry cleanup failed", "err", err)
		}
	}
	return nodes, nil
}

// delIfUnchanged deletes hash fields whose value is still the given one.
// KEYS[1] the hash; ARGV field, value, field, value, ...
var delIfUnchanged = redis.NewScript(`
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
`)

// close removes every entry of this node (graceful shutdown) and stops.
// Safe to call more than once, concurrently; later calls only wait.
func (r *Registry) close(ctx context.Context) {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		for user, conns := range r.local {
			for c := range conns {
				r.ops = append(r.ops, regOp{user: user, conn: c})
			}
		}
		r.local = map[string]map[uint64]struct{}{}
		r.mu.Unlock()
		close(r.stop)
	})
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}
