package gateway

import (
	"context"
	"slices"
	"sync"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/internal/shard"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// Offline is the offline 1:1 and group service as the gateway uses it
// (offline.Service). Optional: without it, offline frames get UNKNOWN_OP and
// nothing is pushed at login.
type Offline interface {
	// Login returns the frames pushed to a new connection right after
	// Connected (the login counters).
	Login(ctx context.Context, user string) ([]*pb.Frame, error)
	// Serve answers one offline operation (offline.IsOp).
	Serve(ctx context.Context, user string, admin bool, f *pb.Frame) (*pb.Frame, error)
}

// userIndex maps users to their connections on this node, for live
// delivery of offline-flow frames. Maintained on authenticate and cleanup.
type userIndex struct {
	shards [numConnShards]userShard
}

type userShard struct {
	mu sync.Mutex
	m  map[string][]*conn
}

func (x *userIndex) shard(user string) *userShard {
	return &x.shards[shard.Index(user, numConnShards)]
}

func (x *userIndex) add(c *conn) {
	sh := x.shard(c.User())
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string][]*conn)
	}
	sh.m[c.User()] = append(sh.m[c.User()], c)
	sh.mu.Unlock()
}

func (x *userIndex) remove(c *conn) {
	sh := x.shard(c.User())
	sh.mu.Lock()
	cs := sh.m[c.User()]
	if i := slices.Index(cs, c); i >= 0 {
		cs = slices.Delete(cs, i, i+1)
		if len(cs) == 0 {
			delete(sh.m, c.User())
		} else {
			sh.m[c.User()] = cs
		}
	}
	sh.mu.Unlock()
}

// Deliver implements offline.Deliverer for this node: it queues o on every
// connection of each user (never blocking: a full queue closes that
// connection as a slow consumer) and returns how many took it.
func (g *Gateway) Deliver(users []string, o *wire.Outbound) int {
	n := 0
	var buf []*conn
	for _, u := range users {
		sh := g.users.shard(u)
		sh.mu.Lock()
		buf = append(buf[:0], sh.m[u]...)
		sh.mu.Unlock()
		for _, c := range buf {
			if c.Push(o) {
				n++
			}
		}
	}
	return n
}

// loggedIn runs after Connected went out: the connection joins the user
// index (first, so nothing sent meanwhile is missed: it is either pushed
// live or counted), then gets the login counters, unless the client said
// it asks for them itself (wire.FeatureCountersOnRequest): then the
// connect costs the offline store nothing.
func (c *conn) loggedIn() {
	off := c.g.d.Offline
	if off == nil {
		return
	}
	c.g.users.add(c)
	c.indexed = true
	if c.Features().Has(wire.FeatureCountersOnRequest) {
		return
	}
	// On the connection's reader goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	frames, err := off.Login(ctx, c.ident.User)
	cancel()
	if err != nil {
		c.g.log.Warn("login counters", "conn", c.id, "user", c.ident.User, "err", err)
		c.failErr(0, err)
		return
	}
	for _, f := range frames {
		c.push(0, f)
	}
}

// offlineOp runs an offline operation; false if f is none (or the node has
// no offline service).
func (c *conn) offlineOp(id uint32, f *pb.Frame) bool {
	off := c.g.d.Offline
	if off == nil || !offline.IsOp(f) {
		return false
	}
	if offline.IsSend(f) && !c.allowSend(id) {
		return true
	}
	// On the connection's reader goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	res, err := off.Serve(ctx, c.ident.User, c.ident.Has(auth.RoleAdmin) || c.ident.Has(auth.RoleSystem), f)
	cancel()
	if err != nil {
		c.failErr(id, err)
		return true
	}
	c.reply(id, res)
	return true
}
