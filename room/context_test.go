package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// stallingStore blocks every claim and write until the caller's context
// ends, like a store that does not answer.
type stallingStore struct {
	*MemoryStore
	stall chan struct{} // closed: stall
}

func (s stallingStore) wait(ctx context.Context) error {
	select {
	case <-s.stall:
		<-ctx.Done()
		return ctx.Err()
	default:
		return nil
	}
}

func (s stallingStore) Claim(ctx context.Context, room string, term uint64) (Snapshot, error) {
	if err := s.wait(ctx); err != nil {
		return Snapshot{}, err
	}
	return s.MemoryStore.Claim(ctx, room, term)
}

func (s stallingStore) Append(ctx context.Context, room string, term uint64, msgs ...*pb.RoomMessage) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.MemoryStore.Append(ctx, room, term, msgs...)
}

// TestCallersContextReachesTheStore: Join and SendMany give up when the
// caller's ctx ends (well before opTimeout), answering ErrUnavailable.
func TestCallersContextReachesTheStore(t *testing.T) {
	store := stallingStore{MemoryStore: NewMemoryStore(StoreConfig{}), stall: make(chan struct{})}
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: store}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(context.Background(), JoinRequest{Room: "held", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	close(store.stall)
	for name, call := range map[string]func(ctx context.Context) error{
		"send (store write)": func(ctx context.Context) error {
			return s.SendMany(ctx, []SendRequest{{Room: "held", From: "u", Body: "x"}})[0].Err
		},
		"join (store claim)": func(ctx context.Context) error {
			_, err := s.Join(ctx, JoinRequest{Room: "new", User: "v", Node: "n1"})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if took := time.Since(start); took > opTimeout/2 {
			t.Errorf("%s: took %v: the caller's ctx did not reach the store", name, took)
		}
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err %v, want ErrUnavailable wrapping the deadline", name, err)
		}
	}
}
