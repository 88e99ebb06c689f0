package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/freeport"
)

// The compare mode starts every server itself, fresh for each run, on a
// free loopback port, and stops it afterwards.

// Test credentials of the Centrifugo servers the compare mode starts (they
// listen on loopback only and live for one run).
const (
	CfHMACKey = "roomcast-bench-centrifugo-hmac-test-key-0001"
	CfAPIKey  = "roomcast-bench-centrifugo-api-test-key-0001"
)

// CfConfig is the Centrifugo v6 configuration (JSON) of a benchmark
// server on 127.0.0.1:port: memory engine; connection JWTs signed with
// hmacKey (HS256); namespace CfNamespace, which any connected client may
// subscribe to without a subscription token; no history, presence or
// join/leave messages (pure fan-out, like a roomcast room with no
// history); the server HTTP API under /api with apiKey; logs at warn.
// Pings every pingInterval (0: Centrifugo's 25 s), pong timeout a third
// of it.
func CfConfig(port int, hmacKey, apiKey string, pingInterval time.Duration) ([]byte, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("%w: centrifugo port %d", ErrConfig, port)
	}
	if hmacKey == "" || apiKey == "" {
		return nil, fmt.Errorf("%w: centrifugo keys must not be empty", ErrConfig)
	}
	client := map[string]any{
		"token": map[string]any{"hmac_secret_key": hmacKey},
	}
	if pingInterval > 0 {
		client["ping_interval"] = pingInterval.String()
		client["pong_timeout"] = (pingInterval / 3).String()
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "warn"},
		"engine":      map[string]any{"type": "memory"},
		"client":      client,
		"channel": map[string]any{
			"namespaces": []any{map[string]any{
				"name":                       CfNamespace,
				"allow_subscribe_for_client": true,
			}},
		},
		"http_api":    map[string]any{"key": apiKey},
		"usage_stats": map[string]any{"disabled": true},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// serverProc is one server process the compare mode started.
type serverProc struct {
	kind   string
	cmd    *exec.Cmd
	port   int
	log    string
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

// ServerSpec says how to start the servers of a comparison.
type ServerSpec struct {
	// Roomcast is the roomcast binary; RoomcastConfig its config file
	// (configs/bench.yaml). The node listens on 127.0.0.1:<free port>.
	Roomcast       string
	RoomcastConfig string
	// Centrifugo is the centrifugo binary (v6).
	Centrifugo string
	// CfPingInterval is Centrifugo's client.ping_interval (0: its 25 s).
	CfPingInterval time.Duration
	// Dir holds generated configs and the servers' logs.
	Dir string
	// Environ is the servers' environment (ROOMCAST_* apply to roomcast).
	Environ []string
}

// freePort returns a loopback port that was free a moment ago, below the
// ephemeral range (internal/freeport).
func freePort() (int, error) { return freeport.Pick() }

// startServer starts a fresh server of kind and waits until it accepts
// connections (at most 30 s). tag names its log file.
func startServer(ctx context.Context, spec ServerSpec, kind, tag string) (*serverProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var argv []string
	switch kind {
	case ServerRoomcast:
		argv = []string{spec.Roomcast, "-config", spec.RoomcastConfig, "-listen", "127.0.0.1:" + strconv.Itoa(port)}
	case ServerCentrifugo:
		data, err := CfConfig(port, CfHMACKey, CfAPIKey, spec.CfPingInterval)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(spec.Dir, "centrifugo-"+tag+".json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
		argv = []string{spec.Centrifugo, "--config", file}
	default:
		return nil, fmt.Errorf("%w: unknown server %q", ErrConfig, kind)
	}
	logFile := filepath.Join(spec.Dir, kind+"-"+tag+".log")
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = spec.Environ
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("bench: start %s: %w", kind, err)
	}
	p := &serverProc{kind: kind, cmd: cmd, port: port, log: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr(), time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("bench: %s exited at start (%v); see %s", kind, p.err, logFile)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("bench: %s did not listen on %s within 30s; see %s", kind, p.addr(), logFile)
		}
	}
}

// runOnFreshServer starts a fresh server of kind, runs c against it (c's
// URLs, APIURL and ServerPIDs are the server's) and stops it; stopErr
// says it had to be killed. err is the start's or the run's.
func runOnFreshServer(ctx context.Context, spec ServerSpec, kind, tag string, c Config, prog *Progress) (rep *Report, stopErr, err error) {
	p, err := startServer(ctx, spec, kind, tag)
	if err != nil {
		return nil, nil, err
	}
	ws, api := p.urls()
	c.URLs, c.APIURL, c.ServerPIDs = []string{ws}, api, []int{p.pid()}
	rep, err = Run(ctx, c, prog)
	return rep, p.stop(), err
}

func (p *serverProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// urls are the WebSocket endpoint and, for Centrifugo, the HTTP API.
func (p *serverProc) urls() (ws, api string) {
	if p.kind == ServerCentrifugo {
		return "ws://" + p.addr() + "/connection/websocket", "http://" + p.addr() + "/api"
	}
	return "ws://" + p.addr() + "/ws", ""
}

// stop sends SIGTERM, waits up to 30 s, then kills the process. It
// returns an error only when it had to kill (a server that exited by
// itself or with an error status after SIGTERM is stopped: the run's
// figures were taken before).
func (p *serverProc) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return errors.New("bench: " + p.kind + " did not stop within 30s of SIGTERM: killed")
}
