package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestUndeliveredOnlyWhenSure: a leave batch is sent again only when it
// surely did not arrive (sending it twice would count leaves twice); a
// timeout may have come after the publish and is left to the next
// announcement.
func TestUndeliveredOnlyWhenSure(t *testing.T) {
	redisErr := redis.ErrClosed // not a redis.Error: a closed client
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no subscriber", fmt.Errorf("wrapped: %w", ErrNoReceiver), true},
		{"refused dial", fmt.Errorf("%w: %w", ErrPublish, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), true},
		{"our deadline", fmt.Errorf("%w: %w", ErrPublish, context.DeadlineExceeded), false},
		{"read timeout", fmt.Errorf("%w: %w", ErrPublish, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), false},
		{"Redis said no", fmt.Errorf("%w: %w", ErrPublish, refusal{}), true},
		{"closed client", fmt.Errorf("%w: %w", ErrPublish, redisErr), false},
	} {
		if got := undelivered(c.err); got != c.want {
			t.Errorf("%s: undelivered(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestLeaveBatchAddsUp(t *testing.T) {
	var b leaveBatch
	b.add("a")
	b.addN("a", 4)
	b.addN("b", 2)
	p := b.take()
	if p["a"] != 5 || p["b"] != 2 || len(p) != 2 {
		t.Fatalf("take = %v, want a:5 b:2", p)
	}
	if p := b.take(); len(p) != 0 {
		t.Fatalf("second take = %v, want empty", p)
	}
}

// refusal is an error reply of Redis (a redis.Error).
type refusal struct{}

func (refusal) Error() string { return "MOVED or OOM" }
func (refusal) RedisError()   {}
