package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestUnfinishedMessageParks: a connection that stops in the middle of a
// fragmented message, and in the middle of a frame, parks with exactly the
// bytes it has (counted in partial_bytes); when the rest arrives it wakes
// and the message is handled.
func TestUnfinishedMessageParks(t *testing.T) {
	g := newTestGateway(t, anyToken, Config{ParkAfter: 100 * time.Millisecond})
	url := startGateway(t, g)
	ws, _, err := websocket.DefaultDialer.Dial(url+"?token=u&enc=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), "connected") {
		t.Fatalf("connected: %q %v", data, err)
	}
	first := zeroMaskFrame(0x01, []byte(`{"id":5,`)) // text, not final
	last := zeroMaskFrame(0x80, []byte(`"ping":{}}`))
	nc := ws.NetConn()
	if _, err := nc.Write(append(first, last[:9]...)); err != nil {
		t.Fatal(err)
	}
	const held = 8 + 9 // the first fragment's payload and 9 bytes of the last frame
	waitFor(t, "parked with the unfinished message", func() bool {
		return g.countParked() == 1 && g.core.Partial.Load() == held
	})
	if _, err := nc.Write(last[9:]); err != nil {
		t.Fatal(err)
	}
	_, data, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(data), `"pong"`) || !strings.Contains(string(data), `"id":5`) {
		t.Fatalf("after the rest arrived: %q %v", data, err)
	}
	waitFor(t, "partial bytes released", func() bool { return g.core.Partial.Load() == 0 })
}
