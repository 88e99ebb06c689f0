package client

import (
	"context"
	"sync"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Folding (docs/traffic-classes.md): the room's owner counts likes and
// join notices per round and sends one folded item per kind, a
// RoomMessage whose Folded is the count (from and body are the round's
// first sender's), and for likes whose LikeTotal is the room's total.
// Folded items reach OnMessage like any message; Count gives any
// message's weight, Likes the room's like total, OnLikes its changes.

// LikeKind is the kind the SDK's Like sends (the server's default
// room.fold.like_kind).
const LikeKind = "like"

// Count is how many messages m stands for: its Folded count for a folded
// item ("❤ ×532", "Ann and 120 others entered"), else 1.
func Count(m *pb.RoomMessage) uint64 {
	if m.GetFolded() > 0 {
		return m.GetFolded()
	}
	return 1
}

// Like adds one like (a tap) to a joined room. Taps are batched: the
// room's taps of Options.LikeWindow (default 1s) go as one Send of kind
// LikeKind, body "❤", whose count is how many (at most
// Options.LikeBatchMax: a full batch goes at once; Close and Leave send
// what is collected). The room's owner counts the batch into the round's
// like item and answers when that is written: Like returns the batch's
// answer (Sent.seq is the item's), the same for every tap in it. A Like
// whose ctx ends while its batch is still collecting is taken out of it;
// once the batch went out it counts whatever Like returns.
func (c *Client) Like(ctx context.Context, room string) (*pb.Sent, error) {
	if c.opt.LikeWindow < 0 {
		return c.Send(ctx, room, "❤", SendOptions{Kind: LikeKind})
	}
	b, full := c.addLike(room)
	if full {
		c.likes.wg.Add(1)
		go func() {
			defer c.likes.wg.Done()
			c.sendBatch(c.ctx, b)
		}()
	}
	select {
	case <-b.done:
		return b.sent, b.err
	case <-ctx.Done():
		c.likes.mu.Lock()
		if c.likes.pending[room] == b {
			b.n-- // still collecting: the tap is taken out
		}
		c.likes.mu.Unlock()
		return nil, ctx.Err()
	}
}

// likeBatcher collects like taps per room (Like). Its goroutines (a
// batch's timer, a full batch's send) are waited for by Close.
type likeBatcher struct {
	mu      sync.Mutex
	pending map[string]*likeBatch // collecting, by room
	wg      sync.WaitGroup
}

// likeBatch is one room's taps sent as one Send; sent and err are set
// before done is closed.
type likeBatch struct {
	room  string
	n     uint32 // guarded by likeBatcher.mu while pending
	timer *time.Timer
	done  chan struct{}
	sent  *pb.Sent
	err   error
}

// addLike adds a tap to room's batch, starting one (and its timer) if
// none is collecting. full: the batch reached Options.LikeBatchMax and was
// taken out of pending; the caller sends it.
func (c *Client) addLike(room string) (b *likeBatch, full bool) {
	c.likes.mu.Lock()
	defer c.likes.mu.Unlock()
	b = c.likes.pending[room]
	if b == nil {
		if c.likes.pending == nil {
			c.likes.pending = make(map[string]*likeBatch)
		}
		b = &likeBatch{room: room, done: make(chan struct{})}
		c.likes.pending[room] = b
		c.likes.wg.Add(1)
		b.timer = time.AfterFunc(c.opt.LikeWindow, func() {
			defer c.likes.wg.Done()
			if c.takeBatch(b) {
				c.sendBatch(c.ctx, b)
			}
		})
	}
	b.n++
	if int(b.n) >= c.opt.LikeBatchMax {
		return b, c.takeBatchLocked(b)
	}
	return b, false
}

// takeBatch takes b out of pending and reports whether it was still
// there (then the caller sends it; nobody else will).
func (c *Client) takeBatch(b *likeBatch) bool {
	c.likes.mu.Lock()
	defer c.likes.mu.Unlock()
	return c.takeBatchLocked(b)
}

func (c *Client) takeBatchLocked(b *likeBatch) bool {
	if c.likes.pending[b.room] != b {
		return false
	}
	delete(c.likes.pending, b.room)
	if b.timer.Stop() {
		c.likes.wg.Done() // its timer will not run
	}
	return true
}

// sendBatch sends b (nothing when every tap was withdrawn) and answers
// its taps.
func (c *Client) sendBatch(ctx context.Context, b *likeBatch) {
	if b.n > 0 {
		ctx, cancel := context.WithTimeout(ctx, c.opt.RequestTimeout)
		b.sent, b.err = c.Send(ctx, b.room, "❤", SendOptions{Kind: LikeKind, Count: b.n})
		cancel()
	}
	close(b.done)
}

// flushLikes sends the taps collected for room ("": every room) now and
// waits for the answers, and for every batch already on its way.
func (c *Client) flushLikes(ctx context.Context, room string) {
	c.likes.mu.Lock()
	var out []*likeBatch
	for r, b := range c.likes.pending {
		if room == "" || r == room {
			out = append(out, b)
		}
	}
	for _, b := range out {
		c.takeBatchLocked(b)
	}
	c.likes.mu.Unlock()
	for _, b := range out {
		c.sendBatch(ctx, b)
	}
	if room == "" {
		c.likes.wg.Wait()
	}
}

// Likes returns a joined room's like total as the client knows it: the
// Joined's (join and resume), raised by every like item read since and
// by the like total of every Notify and PullResult (also when the item
// itself was sampled away by a cap or evicted before a pull).
func (c *Client) Likes(room string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rooms[room]; r != nil {
		return r.likes
	}
	return 0
}

// likesFromJoined takes the like total of a Joined and tells OnLikes when
// it moved.
func (c *Client) likesFromJoined(j *pb.Joined) {
	c.mu.Lock()
	r := c.rooms[j.Room]
	moved := r != nil && r.raiseLikes(j.GetLikeTotal())
	total := uint64(0)
	if r != nil {
		total = r.likes
	}
	c.mu.Unlock()
	if moved {
		c.tellLikes(j.Room, total)
	}
}

// raiseLikes raises the room's like total to total and reports whether it
// moved (totals only grow; an item read late changes nothing). Client.mu
// is held.
func (r *roomState) raiseLikes(total uint64) bool {
	if total <= r.likes {
		return false
	}
	r.likes = total
	return true
}

func (c *Client) tellLikes(room string, total uint64) {
	if c.opt.OnLikes != nil {
		c.opt.OnLikes(room, total)
	}
}
