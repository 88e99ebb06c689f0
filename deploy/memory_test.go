package deploy

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testcert"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// BenchmarkIdleConnMemory measures the server's RSS per idle, connected
// WebSocket with and without TLS: the node runs as its own process (the
// binary the Dockerfile builds), 3,000 connections each send Connect and
// then stay idle past park_after and the trim after the wave.
//
//	go test -run='^$' -bench=IdleConnMemory -benchtime=1x ./deploy
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(fmt.Sprintf("tls=%v", useTLS), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.ReportMetric(idleKiBPerConn(b, useTLS, 3000), "KiB/conn")
			}
		})
	}
}

func idleKiBPerConn(b *testing.B, useTLS bool, n int) float64 {
	dir := b.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := testcert.Write(b, cf, kf, "bench")
	addr := freeAddr(b)
	conf := "gateway:\n  max_conns_per_ip: -1\n  max_conns_per_user: -1\n"
	if useTLS {
		conf += "http:\n  tls:\n    cert_file: " + cf + "\n    key_file: " + kf + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(binary(b), "-config", filepath.Join(dir, "c.yaml"), "-listen", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(2 * time.Second)
	before := rssKiB(b, cmd.Process.Pid)
	kr, err := auth.NewKeyring(configs.Default().Keys()...)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := kr.Mint("u", nil, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	connect, err := wire.Encode(wire.Binary, &pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: tok}}})
	if err != nil {
		b.Fatal(err)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	url := "ws://" + addr + "/ws"
	if useTLS {
		url = "wss://" + addr + "/ws"
	}
	for i := 0; i < n; i++ {
		c, _, err := d.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteMessage(websocket.BinaryMessage, connect); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(10 * time.Second) // past park_after (2s) and the trim after the park wave
	return (rssKiB(b, cmd.Process.Pid) - before) / float64(n)
}

func rssKiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
