package gateway

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// janitorPeriod is the janitor's period for cfg (as janitor computes it).
func janitorPeriod(cfg Config) time.Duration {
	cfg = cfg.WithDefaults()
	p := min(cfg.AuthTimeout, cfg.IdleTimeout) / 4
	return max(min(p, 5*time.Second), 100*time.Millisecond)
}

// closedWith reads ws until the server closes it and returns when, and
// the close code.
func closedWith(ws *websocket.Conn) (time.Time, int) {
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err != nil {
			at := time.Now()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return at, ce.Code
			}
			return at, 0
		}
	}
}

// TestTimeoutsNeverFireEarly: connections opened (or last heard from) at
// staggered times across several janitor periods are each closed no
// sooner than their own auth_timeout / idle_timeout, and no later than
// one janitor period (plus slack for a loaded box) after it.
func TestTimeoutsNeverFireEarly(t *testing.T) {
	cfg := Config{AuthTimeout: 800 * time.Millisecond, IdleTimeout: 900 * time.Millisecond,
		PingInterval: 300 * time.Millisecond, ParkAfter: 150 * time.Millisecond}
	period := janitorPeriod(cfg)
	const slack = 700 * time.Millisecond
	g := newTestGateway(t, anyToken, cfg)
	url := startGateway(t, g)
	const n = 10
	step := period / 4 // n connections spread over 2.5 janitor periods

	type result struct {
		name          string
		early, late   time.Time // the deadline, seen from before and after the event
		closed        time.Time
		code, want    int
		timeout       time.Duration
		dialOrSendErr error
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(step)
		// Unauthenticated: closed after auth_timeout from the handshake.
		wg.Add(2)
		go func() {
			defer wg.Done()
			before := time.Now()
			ws, _, err := websocket.DefaultDialer.Dial(url, nil)
			after := time.Now()
			r := result{name: "auth", early: before, late: after, want: CloseAuthTimeout, timeout: cfg.AuthTimeout, dialOrSendErr: err}
			if err == nil {
				r.closed, r.code = closedWith(ws)
				ws.Close()
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
		// Authenticated, then one frame at a staggered time: closed after
		// idle_timeout from that frame.
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.Dial(url+"?token=u", nil)
			r := result{name: "idle", want: CloseIdle, timeout: cfg.IdleTimeout, dialOrSendErr: err}
			if err == nil {
				time.Sleep(time.Duration(i) * step / 2)
				r.early = time.Now()
				r.dialOrSendErr = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
				r.late = time.Now()
				r.closed, r.code = closedWith(ws)
				ws.Close()
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.dialOrSendErr != nil {
			t.Fatalf("%s: %v", r.name, r.dialOrSendErr)
		}
		if r.code != r.want {
			t.Errorf("%s: closed with %d, want %d", r.name, r.code, r.want)
			continue
		}
		if got := r.closed.Sub(r.early); got < r.timeout {
			t.Errorf("%s: closed %v after the event, before its timeout %v", r.name, got, r.timeout)
		}
		if got := r.closed.Sub(r.late); got > r.timeout+period+slack {
			t.Errorf("%s: closed %v after the event, later than timeout %v + one janitor period %v + %v", r.name, got, r.timeout, period, slack)
		}
	}
}
