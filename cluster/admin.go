package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"

	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/placement"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// The admin API's view of a cluster: room queries go to the room's owner,
// questions about local state go to every node and are combined.

// LocalAdmin is what a node answers admin queries from.
type LocalAdmin interface {
	Info(ctx context.Context, id string) (room.Info, error)
	Top(n int) []room.Info
	Rooms() []string
}

// LocalStats is the fanout side of admin queries.
type LocalStats interface {
	Room(id string) (fanout.RoomStats, bool)
	SetRingSize(roomID string, n int) error
}

var (
	_ LocalAdmin = (*room.Service)(nil)
	_ LocalStats = (*fanout.Service)(nil)
)

// WireAdmin gives the node what it answers admin queries from.
func (n *Node) WireAdmin(rooms LocalAdmin, stats LocalStats) { n.adm, n.stats = rooms, stats }

// Info returns the room's state from its owner.
func (n *Node) Info(ctx context.Context, id string) (room.Info, error) {
	var inf room.Info
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.RPCTimeout)
	defer cancel()
	err := n.route(ctx, "info", id, func() (err error) {
		inf, err = n.adm.Info(ctx, id)
		return err
	}, func(ctx context.Context, owner string) error {
		rep, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_Query{Query: query(cpb.Query_ROOM_INFO, id, "", 0)}})
		if err != nil {
			return err
		}
		if !rep.GetQueryReply().GetFound() {
			return room.ErrNotFound
		}
		return json.Unmarshal(rep.GetQueryReply().GetJson(), &inf)
	})
	return inf, err
}

// Top returns the n busiest rooms of the whole cluster.
func (n *Node) Top(k int) []room.Info {
	var all []room.Info
	n.everyNode(query(cpb.Query_TOP, "", "", int64(k)), func(local bool, rep *cpb.QueryReply) {
		var part []room.Info
		if local {
			part = n.adm.Top(k)
		} else if json.Unmarshal(rep.GetJson(), &part) != nil {
			return
		}
		all = append(all, part...)
	})
	return room.TopOf(all, k)
}

// Rooms returns every room id the cluster's owners hold.
func (n *Node) Rooms() []string {
	var ids []string
	n.everyNode(query(cpb.Query_ROOMS, "", "", 0), func(local bool, rep *cpb.QueryReply) {
		var part []string
		if local {
			part = n.adm.Rooms()
		} else if json.Unmarshal(rep.GetJson(), &part) != nil {
			return
		}
		ids = append(ids, part...)
	})
	sort.Strings(ids)
	return ids
}

// Room returns the room's fanout stats summed over every node.
func (n *Node) Room(id string) (fanout.RoomStats, bool) {
	var sum fanout.RoomStats
	found := false
	n.everyNode(query(cpb.Query_FANOUT_STATS, id, "", 0), func(local bool, rep *cpb.QueryReply) {
		var st fanout.RoomStats
		ok := false
		if local {
			st, ok = n.stats.Room(id)
		} else if rep.GetFound() && json.Unmarshal(rep.GetJson(), &st) == nil {
			ok = true
		}
		if !ok {
			return
		}
		if !found || st.Since.Before(sum.Since) {
			sum.Since = st.Since
		}
		found = true
		sum.Viewers += st.Viewers
		sum.Notifies += st.Notifies
		sum.Pulls += st.Pulls
		b := &sum.Buffer
		b.Head, b.PHead = max(b.Head, st.Buffer.Head), max(b.PHead, st.Buffer.PHead)
		b.Len, b.Cap = max(b.Len, st.Buffer.Len), max(b.Cap, st.Buffer.Cap)
		b.Evicted += st.Buffer.Evicted
	})
	return sum, found
}

// SetRingSize sets the room's ring size on every node.
func (n *Node) SetRingSize(roomID string, size int) error {
	var firstErr error
	n.everyNode(query(cpb.Query_SET_RING_SIZE, roomID, "", int64(size)), func(local bool, rep *cpb.QueryReply) {
		if local {
			if err := n.stats.SetRingSize(roomID, size); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	})
	return firstErr
}

// CloseUser disconnects the user on every node.
func (n *Node) CloseUser(user string) int {
	total := 0
	n.everyNode(query(cpb.Query_CLOSE_USER, "", user, 0), func(local bool, rep *cpb.QueryReply) {
		if local {
			total += n.sess.CloseUser(user)
		} else {
			total += int(rep.GetN())
		}
	})
	return total
}

func query(op cpb.Query_Op, roomID, user string, k int64) *cpb.Query {
	return &cpb.Query{Op: op, Room: roomID, User: user, N: k}
}

// everyNode runs q on every member (this node locally, the others by
// request, in parallel) and hands each answer to fn, one at a time.
func (n *Node) everyNode(q *cpb.Query, fn func(local bool, rep *cpb.QueryReply)) {
	v, ok := n.view()
	if !ok {
		fn(true, nil)
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range v.Nodes {
		if node.ID == n.self {
			mu.Lock()
			fn(true, nil)
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(node placement.Node) {
			defer wg.Done()
			// A query goroutine of this call (it waits for them): one RPC timeout.
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
			defer cancel()
			rep, err := n.call(ctx, node.ID, &cpb.Envelope{Body: &cpb.Envelope_Query{Query: q}})
			if err != nil {
				n.log.Debug("admin query failed", "node", node.ID, "op", q.Op, "err", err)
				return
			}
			mu.Lock()
			fn(false, rep.GetQueryReply())
			mu.Unlock()
		}(node)
	}
	wg.Wait()
}

// answer runs a query on this node.
func (n *Node) answer(ctx context.Context, q *cpb.Query) *cpb.Envelope {
	rep := &cpb.QueryReply{}
	var v any
	switch q.Op {
	case cpb.Query_ROOM_INFO:
		inf, err := n.adm.Info(ctx, q.Room)
		if err != nil && !errors.Is(err, room.ErrNotFound) {
			return failure(err)
		}
		rep.Found, v = err == nil, inf
	case cpb.Query_TOP:
		rep.Found, v = true, n.adm.Top(int(q.N))
	case cpb.Query_ROOMS:
		rep.Found, v = true, n.adm.Rooms()
	case cpb.Query_FANOUT_STATS:
		rep.Found = false
		if st, ok := n.stats.Room(q.Room); ok {
			rep.Found, v = true, st
		}
	case cpb.Query_SET_RING_SIZE:
		if err := n.stats.SetRingSize(q.Room, int(q.N)); err != nil {
			return failure(room.ErrInvalid)
		}
	case cpb.Query_CLOSE_USER:
		rep.N = int64(n.sess.CloseUser(q.User))
	case cpb.Query_FILTER_RELOAD:
		words, err := n.localFilterReload()
		if err != nil {
			return failure(err)
		}
		rep.N = int64(words)
	default:
		return failure(room.ErrInvalid)
	}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return failure(err)
		}
		rep.Json = b
	}
	return &cpb.Envelope{Body: &cpb.Envelope_QueryReply{QueryReply: rep}}
}
