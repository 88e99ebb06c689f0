package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/testcert"
)

// TestSIGHUPReloadsTLS runs the server with http.tls and no periodic check
// (reload_interval -1s), renews the certificate and sends SIGHUP: the next
// handshake presents the renewed certificate, and the process keeps running.
func TestSIGHUPReloadsTLS(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.Write(t, cf, kf, "before.test")
	conf := filepath.Join(dir, "roomcast.yaml")
	yaml := "http:\n  tls:\n    cert_file: " + cf + "\n    key_file: " + kf + "\n    reload_interval: -1s\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-config", conf, "-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RC_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`ws=wss://(127\.0\.0\.1:\d+)/ws`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(20 * time.Second):
		t.Fatal("no wss:// listening line")
	}
	if n, err := testcert.PeerName(addr); err != nil || n != "before.test" {
		t.Fatalf("first certificate: %q %v", n, err)
	}
	testcert.Write(t, cf, kf, "after.test")
	time.Sleep(100 * time.Millisecond)
	if n, _ := testcert.PeerName(addr); n != "before.test" {
		t.Fatalf("reloaded without SIGHUP (reload_interval -1s): %q", n)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := testcert.PeerName(addr)
		if err == nil && n == "after.test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %q %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
