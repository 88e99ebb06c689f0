package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// sdkClient applies frames as the SDKs do (client/session.go): a message
// whose seq is not above the cursor is old and dropped; a complete Notify
// then moves the cursor to its seq; missed counts add up. It records
// which normal seqs it was given.
type sdkClient struct {
	user string

	mu         sync.Mutex
	cursor     uint64
	got        map[uint64]bool
	missed     uint64
	incomplete int
	foreign    []uint64 // hidden seqs of another user it was given
}

func (c *sdkClient) User() string                { return c.user }
func (c *sdkClient) Kick(string, pb.Kick_Reason) {}
func (c *sdkClient) Features() wire.Features     { return 0 }

func (c *sdkClient) Push(o *wire.Outbound) bool {
	n := o.Frame().GetNotify()
	if n == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range n.Messages {
		if m.Priority || m.Seq <= c.cursor {
			continue
		}
		c.cursor = m.Seq
		c.got[m.Seq] = true
		if m.From == "shadow" && c.user != "shadow" {
			c.foreign = append(c.foreign, m.Seq)
		}
	}
	c.missed += n.Missed
	if !n.Complete {
		c.incomplete++
		return true
	}
	c.cursor = max(c.cursor, n.Seq)
	return true
}

func (c *sdkClient) at() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor
}

// TestCompleteNotifiesLeaveNoUntoldGap: viewers that never pull (every
// Notify complete: all of it fits inline) in a room whose messages mix
// chat, folded like items raising the like total (so viewers at the head
// get Notifies with no message) and messages shown to one user only,
// delivered while the dispatcher shards walk; some viewers join late at
// the head. Whatever the interleaving, each viewer gets every seq after
// its join except those shown to another user only, and is told it
// missed nothing: a complete Notify never moves a cursor past a message
// it did not carry.
func TestCompleteNotifiesLeaveNoUntoldGap(t *testing.T) {
	s, err := New(Deps{}, Config{RingSize: 100000, InlineBytes: 64 << 10, Shards: 3,
		Notify: PacerConfig{MinInterval: time.Millisecond, NodeBudget: -1, RoomBudget: -1}})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()

	const early, late, messages = 6, 4, 4000
	type viewer struct {
		c      *sdkClient
		joined uint64
	}
	var viewers []viewer
	add := func(user string, at uint64) {
		c := &sdkClient{user: user, got: map[uint64]bool{}, cursor: at} // the Joined's head
		sub := s.Subscribe(c, "r")
		s.Begin(sub, at, 0)
		viewers = append(viewers, viewer{c, at})
	}
	add("shadow", 0)
	for range early {
		add("v", 0)
	}
	hidden := map[uint64]bool{}
	likes := uint64(0)
	for seq := uint64(1); seq <= messages; seq++ {
		m := &pb.RoomMessage{Seq: seq, MsgId: seq, From: "s", Body: "chat"}
		switch {
		case seq%5 == 0:
			m.From, m.VisibleTo = "shadow", "shadow"
			hidden[seq] = true
		case seq%7 == 0:
			likes += seq
			m.Kind, m.Class, m.Folded, m.LikeTotal = "like", pb.RoomMessage_LOW, seq, likes
		}
		s.Deliver("r", m)
		if seq == messages/2 {
			for range late {
				add("v", seq) // a fresh join: the cursor is the head
			}
		}
		if seq%40 == 0 {
			time.Sleep(100 * time.Microsecond) // let rounds run between deliveries
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, v := range viewers {
		for v.c.at() < messages && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	for i, v := range viewers {
		v.c.mu.Lock()
		var holes []uint64
		for seq := v.joined + 1; seq <= messages; seq++ {
			if !v.c.got[seq] && (!hidden[seq] || v.c.user == "shadow") {
				holes = append(holes, seq)
			}
		}
		if len(holes) > 0 || v.c.missed != 0 || v.c.incomplete != 0 || len(v.c.foreign) != 0 || v.c.cursor != messages {
			t.Errorf("viewer %d (%s, joined at %d): cursor %d, untold holes %v, missed %d, %d incomplete Notifies, given another's hidden seqs %v",
				i, v.c.user, v.joined, v.c.cursor, holes, v.c.missed, v.c.incomplete, v.c.foreign)
		}
		v.c.mu.Unlock()
	}
}
