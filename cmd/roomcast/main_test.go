package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/localcluster"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv("RC_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestTokenCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"token", "--user", "u1", "--role", "admin", "--ttl", "2h"}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	keys, _ := auth.NewKeyring(configs.Default().Keys()...)
	id, err := keys.Verify(strings.TrimSpace(out.String()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "u1" || !id.Has(auth.RoleAdmin) || time.Until(id.Expires) < 119*time.Minute {
		t.Fatalf("identity %+v", id)
	}
	if !strings.Contains(errOut.String(), "development secret") {
		t.Fatal("no warning about the development secret")
	}
	if code := run([]string{"token"}, nil, &out, &errOut); code == 0 {
		t.Fatal("token without -user succeeded")
	}
	out.Reset()
	if code := run([]string{"token", "-user", "mo", "-room-role", "vip:42=moderator", "-room-role", "show=host"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("token with room roles: exit %d: %s", code, errOut.String())
	}
	id, err = keys.Verify(strings.TrimSpace(out.String()), time.Now())
	if err != nil || id.RoomRole("vip:42") != "moderator" || id.RoomRole("show") != "host" {
		t.Fatalf("room roles %+v, %v", id, err)
	}
	for _, bad := range []string{"vip:42=admin", "moderator"} {
		if code := run([]string{"token", "-user", "mo", "-room-role", bad}, nil, &out, &errOut); code == 0 {
			t.Fatalf("-room-role %s succeeded", bad)
		}
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"serve"}, []string{"ROOMCAST_GATEWAY_MAX_FRAME_BYTES=3"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "gateway.max_frame_bytes") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"frobnicate"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

// TestServeStartsAndStopsOnSIGTERM runs the README's first command (with a
// free port) as a process and stops it the way an operator would: SIGTERM
// drains it (its viewer is told Kick{SHUTDOWN} with a reconnect delay
// within the default 30s window, then closed with 1001) and it exits once
// that connection is gone, without waiting for the window.
func TestServeStartsAndStopsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RC_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	wsRe := regexp.MustCompile(`ws=ws://127\.0\.0\.1:\d+/ws`)
	pageRe := regexp.MustCompile(`Viewer page: +(http://127\.0\.0\.1:\d+/\?room=lobby)`)
	adminRe := regexp.MustCompile(`Admin console: +(http://127\.0\.0\.1:\d+/admin\?room=lobby)`)
	tokenRe := regexp.MustCompile(`Demo token: +(\S+)`)
	var demoToken string
	deadline := time.After(20 * time.Second)
	var listening bool
	var page, console string
	for !listening || page == "" || console == "" || demoToken == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited early: %v", seen)
			}
			seen = append(seen, l)
			listening = listening || wsRe.MatchString(l)
			if m := pageRe.FindStringSubmatch(l); m != nil {
				page = m[1]
			}
			if m := adminRe.FindStringSubmatch(l); m != nil {
				console = m[1]
			}
			if m := tokenRe.FindStringSubmatch(l); m != nil {
				demoToken = m[1]
			}
		case <-deadline:
			t.Fatalf("no listening line and demo URLs: %v", seen)
		}
	}
	// The printed URLs serve the pages, and the demo tokens they use.
	for _, u := range []string{page, console, strings.Replace(page, "/?room=lobby", "/demo/token?user=demo2", 1)} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", u, err, resp)
		}
		resp.Body.Close()
	}
	if !strings.Contains(strings.Join(seen, "\n"), "INSECURE") {
		t.Fatalf("embedded mode did not warn about the development secret: %v", seen)
	}
	wsURL := strings.Replace(strings.Replace(page, "http://", "ws://", 1), "/?room=lobby", "/ws?token="+demoToken, 1)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // Connected
		t.Fatal(err)
	}
	stopped := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	var kick *pb.Kick
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		mt, data, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseGoingAway {
				t.Errorf("closed with %d %q, want 1001", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("no close frame after SIGTERM: %v", err)
		}
		enc, _ := wire.EncodingOf(mt)
		if f, err := wire.Decode(enc, data); err == nil && f.GetKick() != nil {
			kick = f.GetKick()
		}
	}
	if kick == nil || kick.Reason != pb.Kick_SHUTDOWN || kick.ReconnectAfterMs >= 30000 {
		t.Errorf("SIGTERM: kick %v, want SHUTDOWN with a delay under 30s", kick)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		if d := time.Since(stopped); d > 10*time.Second {
			t.Errorf("exited %v after SIGTERM: it waited for the drain window", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
}

// TestGeneratedNodeConfigs: -nodes N writes N valid configs on ports
// 8081..; with -room-node they take connections only and one more node
// owns the rooms.
func TestGeneratedNodeConfigs(t *testing.T) {
	for _, roomNode := range []bool{false, true} {
		files, err := localcluster.GenerateNodeConfigs("../../configs/cluster-node1.yaml", t.TempDir(), 3, roomNode)
		if err != nil {
			t.Fatal(err)
		}
		want := 3
		if roomNode {
			want = 4
		}
		if len(files) != want {
			t.Fatalf("room node %v: %d files", roomNode, len(files))
		}
		for i, f := range files {
			cfg, err := configs.Load(f, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			roles := fmt.Sprint(cfg.Cluster.Roles)
			switch {
			case !roomNode && roles != "[room fanout]":
				t.Fatalf("%s: roles %s", f, roles)
			case roomNode && i < 3 && roles != "[fanout]":
				t.Fatalf("%s: roles %s", f, roles)
			case roomNode && i == 3 && (roles != "[room]" || cfg.Node.ID != "noderoom" || cfg.Gateway.Listen != "127.0.0.1:8084"):
				t.Fatalf("%s: %s %s %s", f, cfg.Node.ID, cfg.Gateway.Listen, roles)
			case i < 3 && cfg.Gateway.Listen != fmt.Sprintf("127.0.0.1:%d", 8081+i):
				t.Fatalf("%s: listen %s", f, cfg.Gateway.Listen)
			}
		}
	}
}
