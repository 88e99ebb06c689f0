package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// silentNode upgrades, answers Connect when answerConnect, and then
// answers nothing: a node too busy to finish a viewer's connect or join.
// Each request it will not answer is announced on the returned channel.
func silentNode(t *testing.T, answerConnect bool) (string, <-chan string) {
	t.Helper()
	stuck := make(chan string, 4)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			f, err := wire.Decode(wire.Binary, data)
			if err != nil {
				return
			}
			if f.GetConnect() != nil && answerConnect {
				out, _ := wire.Encode(wire.Binary, &pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{PingIntervalMs: 60000}}})
				_ = ws.WriteMessage(websocket.BinaryMessage, out)
				continue
			}
			switch {
			case f.GetConnect() != nil:
				stuck <- "connect"
			case f.GetJoin() != nil:
				stuck <- "join"
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), stuck
}

// TestDialEndsWhenCancelled: cancelling a dial's context ends it while it
// waits for the answer to Connect or to Join, though the connection's
// deadline (the context's, here an hour away) is far off: the load tool
// cancels the dials in flight when it ends a stalled ramp.
func TestDialEndsWhenCancelled(t *testing.T) {
	for _, tc := range []struct {
		answerConnect bool
		step          string
	}{{false, "connect"}, {true, "join"}} {
		t.Run(tc.step, func(t *testing.T) {
			url, stuck := silentNode(t, tc.answerConnect)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				v, err := Dial(ctx, ViewerConfig{URL: url, Token: "t", Rooms: []string{"r"}}, &Stats{})
				if v != nil {
					_ = v.Close()
				}
				done <- err
			}()
			if got := <-stuck; got != tc.step {
				t.Fatalf("stuck at %s, want %s", got, tc.step)
			}
			cancel()
			waitCancelled(t, done, "Dial")
		})
	}
}

// TestCfDialEndsWhenCancelled: the same for a Centrifugo viewer waiting
// for the answer to its connect command.
func TestCfDialEndsWhenCancelled(t *testing.T) {
	stuck := make(chan struct{}, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil { // the connect command, never answered
			return
		}
		stuck <- struct{}{}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		v, err := DialCentrifugo(ctx, CfViewerConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Channel: "room:bench", Token: "t"}, &Stats{})
		if v != nil {
			_ = v.Close()
		}
		done <- err
	}()
	<-stuck
	cancel()
	waitCancelled(t, done, "DialCentrifugo")
}

// waitCancelled fails unless the dial reporting on done ends with an
// error within 20 s of its context being cancelled.
func waitCancelled(t *testing.T, done <-chan error, name string) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled dial succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still waiting 20 s after its context was cancelled", name)
	}
}
