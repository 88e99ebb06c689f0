package server

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestDebugListenerServesPprofApart: with http.debug_listen set, pprof
// answers there and nowhere on the public listener; without it, nothing
// listens.
func TestDebugListenerServesPprofApart(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := startServer(t, func(c *configs.Config) { c.HTTP.DebugListen = addr })
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + addr + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Fatalf("debug listener: %d", code)
	}
	if code := get("http://" + s.Addr() + "/debug/pprof/"); code == http.StatusOK {
		t.Fatal("pprof reachable on the public listener")
	}
}
