package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/room"
)

// TestSendClientMsgIDAcrossNodesAndOwners: a Send with a client_msg_id,
// accepted at the room's owner through another node, is resent through a
// third node (the same owner: its window answers) and, after the owner
// left the cluster, through the first node again (a new owner: the
// window stored with the room in Redis answers). Every resend gets the
// first acceptance; Redis keeps the message once; the room's next message
// continues the seqs.
func TestSendClientMsgIDAcrossNodesAndOwners(t *testing.T) {
	rdb := startRedis(t)
	store := room.NewRedisStore(rdb, "t:rooms:", room.StoreConfig{})
	a := newTestNode(t, rdb, store, "a", slow)
	b := newTestNode(t, rdb, store, "b", slow)
	c := newTestNode(t, rdb, store, "c", slow)
	v1, v2 := view(1, "a", "b", "c"), view(2, "a", "c")
	r := roomOwned(v1, "b", &v2, "c")
	for _, n := range []*testNode{a, b, c} {
		n.m.set(v1, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.rooms.CreateRoom(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	req := room.SendRequest{Room: r, From: "u", Body: "hello", ClientMsgID: "k-1"}
	first, err := a.Send(ctx, req)
	if err != nil || first.Duplicate {
		t.Fatalf("first send through a: %+v, %v", first, err)
	}
	again, err := c.Send(ctx, req)
	if err != nil || !again.Duplicate || again.Seq != first.Seq || again.MsgID != first.MsgID {
		t.Fatalf("resend through c to the same owner: %+v, %v; want %+v as a duplicate", again, err, first)
	}

	// b leaves: c owns the room under a higher term and has never seen k-1.
	_ = b.Close(context.Background())
	a.m.set(v2, true)
	c.m.set(v2, true)
	var third room.Accepted
	waitFor(t, 10*time.Second, "the resend answered by the new owner", func() bool {
		third, err = a.Send(ctx, req)
		return err == nil
	})
	if !third.Duplicate || third.Seq != first.Seq || third.MsgID != first.MsgID {
		t.Fatalf("resend after the owner changed: %+v; want %+v as a duplicate", third, first)
	}
	if _, owner := c.Term(r); !owner {
		t.Fatal("c does not own the room")
	}
	next, err := a.Send(ctx, room.SendRequest{Room: r, From: "u", Body: "next", ClientMsgID: "k-2"})
	if err != nil || next.Duplicate || next.Seq != first.Seq+1 {
		t.Fatalf("the next message: %+v, %v; want seq %d", next, err, first.Seq+1)
	}
	kept, err := store.Recent(ctx, r, false, 0, 10)
	if err != nil || len(kept) != 2 {
		t.Fatalf("Redis keeps %d messages (%v), want 2: hello once, then next", len(kept), err)
	}
}

// TestSendClassRolesCrossNodes: the sender's token roles travel with a
// Send to the room's owner on another node, which classes by them: a gift
// from a gifter is high (the priority lane), from anyone else normal.
func TestSendClassRolesCrossNodes(t *testing.T) {
	rdb := startRedis(t)
	store := room.NewMemoryStore(room.StoreConfig{})
	a := newTestNode(t, rdb, store, "a", slow)
	b := newTestNode(t, rdb, store, "b", slow)
	v := view(1, "a", "b")
	r := roomOwned(v, "b", nil, "")
	a.m.set(v, true)
	b.m.set(v, true)
	if err := b.rooms.CreateRoom(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := a.SendMany(ctx, []room.SendRequest{
		{Room: r, From: "u", Body: "rocket", Kind: "gift", Roles: []string{"gifter"}},
		{Room: r, From: "u", Body: "rocket", Kind: "gift"},
	})
	if res[0].Err != nil || !res[0].Priority || res[1].Err != nil || res[1].Priority {
		t.Fatalf("through a to b: %+v; want the gifter's gift high (priority), the other normal", res)
	}
}
