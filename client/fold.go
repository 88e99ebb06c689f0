package client

import (
	"context"

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

// Like sends one like to a joined room (a Send of kind LikeKind, body
// "❤"). The room's owner folds it into the round's like item and answers
// when that is written: Sent.seq is the item's.
func (c *Client) Like(ctx context.Context, room string) (*pb.Sent, error) {
	return c.Send(ctx, room, "❤", SendOptions{Kind: LikeKind})
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
