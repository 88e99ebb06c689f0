package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const secret = "0123456789abcdef-secret"

// backend is a real HTTP server that fails the first failN deliveries with
// 503 and records the others, checking each signature.
type backend struct {
	mu     sync.Mutex
	failN  int
	tries  int
	events []Event
	bad    []string
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tries++
	if r.Header.Get(HeaderSignature) != Sign([]byte(secret), body) {
		b.bad = append(b.bad, string(body))
	}
	if b.tries <= b.failN {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var e Event
	_ = json.Unmarshal(body, &e)
	if r.Header.Get(HeaderEvent) != e.Type {
		b.bad = append(b.bad, "event header "+r.Header.Get(HeaderEvent))
	}
	b.events = append(b.events, e)
}

func (b *backend) snapshot() (events []Event, tries int, bad []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.events...), b.tries, append([]string(nil), b.bad...)
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestEventsAreSignedRetriedAndInOrder: two 503s, then success: the first
// event arrives on its third attempt, signed, and the second after it;
// past the retries an event is counted failed.
func TestEventsAreSignedRetriedAndInOrder(t *testing.T) {
	b := &backend{failN: 2}
	srv := httptest.NewServer(b)
	defer srv.Close()
	s, err := New(Config{URL: srv.URL, Secret: secret, Backoff: 10 * time.Millisecond, Retries: 2}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { s.Run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	s.Emit(Event{Type: RoomCreated, Room: "show"})
	s.Emit(Event{Type: RoomClosed, Room: "show", Reason: "lifetime"})
	wait(t, "both events", func() bool { ev, _, _ := b.snapshot(); return len(ev) == 2 })
	ev, tries, bad := b.snapshot()
	if tries != 4 || len(bad) != 0 || ev[0].Type != RoomCreated || ev[1].Type != RoomClosed || ev[1].Reason != "lifetime" {
		t.Fatalf("tries %d, bad %v, events %+v", tries, bad, ev)
	}
	// A backend that keeps failing: 1 + 2 retries, then failed.
	b.mu.Lock()
	b.failN, b.tries = 1000, 0
	b.mu.Unlock()
	s.Emit(Event{Type: RoomCreated, Room: "x"})
	wait(t, "the failure counted", func() bool { return testutil.ToFloat64(s.results.WithLabelValues("failed")) == 1 })
	if _, tries, _ := b.snapshot(); tries != 3 {
		t.Fatalf("%d attempts, want 3", tries)
	}
	if got := testutil.ToFloat64(s.results.WithLabelValues("sent")); got != 2 {
		t.Fatalf("sent %v", got)
	}
}

// TestConfigNamesTheSetting and a webhook without url is off.
func TestConfigNamesTheSetting(t *testing.T) {
	if s, err := New(Config{}, Deps{}); s != nil || err != nil {
		t.Fatalf("no url: %v %v", s, err)
	}
	for cfg, field := range map[Config]string{
		{URL: "ftp://x", Secret: secret}:                         "webhook.url",
		{URL: "http://127.0.0.1:1", Secret: "s"}:                 "webhook.secret",
		{URL: "http://127.0.0.1:1", Secret: secret, Retries: -2}: "webhook.retries",
	} {
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, field)
		}
	}
}
