package hook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// backend is a real HTTP server on loopback answering by the body.
func backend(t *testing.T, release <-chan struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		switch req.Body {
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		case "spam":
			_, _ = w.Write([]byte(`{"action":"block"}`))
		case "troll":
			_, _ = w.Write([]byte(`{"action":"shadow"}`))
		case "rude":
			_, _ = w.Write([]byte(`{"action":"replace","body":"nice"}`))
		case "garbage":
			_, _ = w.Write([]byte(`{"action":`))
		case "weird":
			_, _ = w.Write([]byte(`{"action":"shout"}`))
		case "oops":
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestJudge(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := backend(t, release)
	reg := prometheus.NewRegistry()
	c, err := New(Config{URL: srv.URL, Timeout: 200 * time.Millisecond, FailClosed: []string{"vip"}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		room, body, want string
		blocked, shadow  bool
	}{
		{"show:1", "hello", "hello", false, false},
		{"show:1", "spam", "spam", true, false},
		{"show:1", "rude", "nice", false, false},
		{"show:1", "troll", "troll", false, true},
		{"show:1", "garbage", "garbage", false, false}, // a bad answer fails open
		{"vip:1", "weird", "weird", true, false},       // an unknown action is a failure
		{"show:1", "oops", "oops", false, false},
		{"vip:1", "oops", "oops", true, false}, // vip fails closed
		{"vip:1", "hello", "hello", false, false},
	} {
		got, blocked, shadow := c.Judge(ctx, tc.room, "u", tc.body, "")
		if got != tc.want || blocked != tc.blocked || shadow != tc.shadow {
			t.Errorf("Judge(%s, %q) = %q, %v, %v; want %q, %v, %v", tc.room, tc.body, got, blocked, shadow, tc.want, tc.blocked, tc.shadow)
		}
	}
	if got := testutil.ToFloat64(c.calls.WithLabelValues(ResultError)); got != 4 {
		t.Fatalf("errors counted %v, want 4", got)
	}
}

// TestHangingBackend: a backend that never answers costs each message the
// timeout — never less (a documented timeout never fires early), not much
// more — and the room class decides.
func TestHangingBackend(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := backend(t, release)
	const timeout = 150 * time.Millisecond
	c, err := New(Config{URL: srv.URL, Timeout: timeout, FailClosed: []string{"vip"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		room    string
		blocked bool
	}{{"open", false}, {"vip:1", true}} {
		start := time.Now()
		_, blocked, _ := c.Judge(context.Background(), tc.room, "u", "hang", "")
		took := time.Since(start)
		if blocked != tc.blocked || took < timeout || took > timeout+2*time.Second {
			t.Fatalf("%s: blocked %v after %v; want %v after %v", tc.room, blocked, took, tc.blocked, timeout)
		}
	}
	if got := testutil.ToFloat64(c.calls.WithLabelValues(ResultTimeout)); got != 2 {
		t.Fatalf("timeouts counted %v, want 2", got)
	}
}

// TestBoundedConcurrency: with MaxConcurrent calls in flight, one more is
// not made (saturated) and fails as its class says, at once.
func TestBoundedConcurrency(t *testing.T) {
	release := make(chan struct{})
	srv := backend(t, release)
	c, err := New(Config{URL: srv.URL, Timeout: 10 * time.Second, MaxConcurrent: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Judge(context.Background(), "r", "u", "hang", "")
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(c.slots) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two calls never took their slots")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, blocked, _ := c.Judge(context.Background(), "r", "u", "hello", ""); blocked || time.Since(start) > time.Second {
		t.Fatalf("saturated call: blocked %v after %v", blocked, time.Since(start))
	}
	if got := testutil.ToFloat64(c.calls.WithLabelValues(ResultSaturated)); got != 1 {
		t.Fatalf("saturated %v, want 1", got)
	}
	close(release)
	wg.Wait()
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{URL: "ftp://x"}, {URL: "http://x", Timeout: -1}, {URL: "http://x", MaxConcurrent: -1}} {
		if _, err := New(cfg, nil, nil); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{}, nil, nil); err != ErrNoURL {
		t.Fatalf("no url: %v", err)
	}
	if d := (Config{}).WithDefaults(); d.Timeout != 300*time.Millisecond || d.MaxConcurrent != 256 {
		t.Fatalf("defaults %+v", d)
	}
	if Class("vip:1") != "vip" || Class("lobby") != "" {
		t.Fatal("Class")
	}
}
