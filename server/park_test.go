package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestParkWakeChurn: connections that go idle just long enough to be
// parked in the poller, again and again, and send as they are parked: each
// wake hands the connection to a new reader that parks it again. Every
// request is answered, the node parks connections, and (under -race) the
// hand-over between parking and waking readers is race-free.
func TestParkWakeChurn(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.ParkAfter = 2 * time.Millisecond
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		v := dialViewer(t, s, fmt.Sprintf("idler-%d", i), client.Options{NoReconnect: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 150; j++ {
				time.Sleep(time.Duration(1+(i+j)%4) * time.Millisecond) // around ParkAfter
				if _, err := v.Ping(ctx); err != nil {
					t.Errorf("ping %d of idler %d: %v", j, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := metric(t, s, "roomcast_gateway_parks_total"); n < 100 {
		t.Fatalf("only %v parks: the test did not churn", n)
	}
}
