package loadgen_test

import (
	"context"
	"testing"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

// startNode starts an embedded node with the default configuration (its
// per-connection limits included) on a free loopback port; the test's
// end closes it.
func startNode(t *testing.T, id string) *server.Server {
	t.Helper()
	cfg := configs.Default()
	cfg.Node.ID, cfg.Gateway.Listen, cfg.Log.Level = id, "127.0.0.1:0", "error"
	s, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}
