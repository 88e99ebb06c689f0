package gateway

import (
	"testing"

	"github.com/roomcast/roomcast/gateway/wsconn"
)

// TestCoreReasonsAreGatewayReasons: the close reasons the connection core
// gives are the gateway's, so they are counted and mapped to codes alike.
func TestCoreReasonsAreGatewayReasons(t *testing.T) {
	pairs := [][2]string{
		{wsconn.ReasonClient, ReasonClient},
		{wsconn.ReasonReadError, ReasonReadError},
		{wsconn.ReasonWriteError, ReasonWriteError},
		{wsconn.ReasonBadWebSocket, ReasonBadWebSocket},
		{wsconn.ReasonTooLarge, ReasonFrameTooLarge},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("core reason %q is %q in the gateway", p[0], p[1])
		}
	}
}
