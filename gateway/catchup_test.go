package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// storeHistory is a room store's backup of the normal lane, as the
// fanout reads it.
type storeHistory struct {
	mu   sync.Mutex
	msgs []*pb.RoomMessage
}

func (h *storeHistory) add(seq uint64) {
	h.mu.Lock()
	h.msgs = append(h.msgs, &pb.RoomMessage{Seq: seq, MsgId: 100 + seq, From: "sender", Body: "m"})
	h.mu.Unlock()
}

func (h *storeHistory) Tail(_ context.Context, _ string, priority bool, n int) ([]*pb.RoomMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if priority {
		return nil, nil
	}
	l := h.msgs
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return append([]*pb.RoomMessage(nil), l...), nil
}

func (h *storeHistory) Recent(_ context.Context, _ string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*pb.RoomMessage
	for _, m := range h.msgs {
		if !priority && m.Seq > after && len(out) < n {
			out = append(out, m)
		}
	}
	return out, nil
}

// admittingOwner is a remote room owner: before it admits a join (and
// from then on counts the joining node) it accepts one more message,
// which it therefore sends only to the nodes it counted before, not to
// the joining one; the room's store has it.
type admittingOwner struct {
	store *storeHistory
	mu    sync.Mutex
	seq   uint64
}

func (o *admittingOwner) Join(context.Context, room.JoinRequest) (room.JoinInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	o.store.add(o.seq)
	return room.JoinInfo{Seq: o.seq, Epoch: 1}, nil
}
func (o *admittingOwner) Leave(context.Context, string, string, string) error { return nil }
func (o *admittingOwner) SendMany(_ context.Context, reqs []room.SendRequest) []room.SendResult {
	out := make([]room.SendResult, len(reqs))
	for i := range out {
		out[i].Err = room.ErrUnavailable
	}
	return out
}

// TestResumeReadsWhatTheOwnerAcceptedBeforeItAdmittedTheNode: a viewer
// resumes (a reconnect after its node was stopped) on a node that holds
// no viewer of the room: the join reads the room's history (seqs 1..5),
// then the owner accepts seq 6 and only then admits the join, so seq 6 is
// never delivered to this node. The room stays quiet: no later delivery
// reveals the gap. The viewer must still get every message after its
// cursor, seq 6 included.
func TestResumeReadsWhatTheOwnerAcceptedBeforeItAdmittedTheNode(t *testing.T) {
	keys, err := auth.NewKeyring(auth.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	store := &storeHistory{}
	owner := &admittingOwner{store: store}
	for owner.seq < 5 {
		owner.seq++
		store.add(owner.seq)
	}
	fan, err := fanout.New(fanout.Deps{History: store}, fanout.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_ = fan.Start(context.Background())
	defer func() { _ = fan.Close(context.Background()) }()
	g, err := New(Deps{Rooms: owner, Fanout: fan, Auth: keys, Node: "n3"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	url := startGateway(t, g)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	}()
	ws, write := dialBinary(t, url)
	token, _ := keys.Mint("u1", nil, time.Hour, time.Now())
	write(&pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: token}}})
	deadline := time.Now().Add(10 * time.Second)
	cursor, joined := uint64(3), false
	write(&pb.Frame{Id: 2, Body: &pb.Frame_Join{Join: &pb.Join{Room: "r", Resume: true, AfterSeq: cursor, Epoch: 1}}})
	for cursor < 6 {
		_ = ws.SetReadDeadline(deadline)
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("the viewer has every message up to seq %d, never seq 6 (joined: %v): %v", cursor, joined, err)
		}
		f := new(pb.Frame)
		if err := proto.Unmarshal(b, f); err != nil {
			t.Fatal(err)
		}
		var msgs []*pb.RoomMessage
		pull := false
		switch body := f.Body.(type) {
		case *pb.Frame_Error:
			t.Fatalf("error: %v", body.Error)
		case *pb.Frame_Joined:
			if body.Joined.Seq != 6 {
				t.Fatalf("joined at seq %d, want 6", body.Joined.Seq)
			}
			joined = true
		case *pb.Frame_Notify:
			msgs, pull = body.Notify.Messages, !body.Notify.Complete
		case *pb.Frame_PullResult:
			msgs, pull = body.PullResult.Messages, body.PullResult.More
		}
		for _, m := range msgs {
			if m.Seq != cursor+1 {
				t.Fatalf("seq %d after %d: a gap or a repeat", m.Seq, cursor)
			}
			cursor = m.Seq
		}
		if pull {
			write(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r", AfterSeq: cursor}}})
		}
	}
}
