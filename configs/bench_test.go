package configs

import "testing"

// TestBenchConfig keeps configs/bench.yaml loadable and what it claims to
// be: a node whose per-connection and per-room limits do not throttle a
// load tool, with viewers allowed to idle through long ramps.
func TestBenchConfig(t *testing.T) {
	c, err := Load("bench.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := Default()
	switch {
	case c.Gateway.SendRate < 1000 || c.Gateway.SendBurst < 1000:
		t.Errorf("gateway.send_rate/burst %v/%d: a publisher connection must send far more than %v/s", c.Gateway.SendRate, c.Gateway.SendBurst, d.Gateway.SendRate)
	case c.Gateway.FrameRate < 2*c.Gateway.SendRate:
		t.Errorf("gateway.frame_rate %v below 2 x send_rate %v (sends plus acknowledgements)", c.Gateway.FrameRate, c.Gateway.SendRate)
	case c.Gateway.MaxConnsPerIP != -1 || c.Gateway.JoinRatePerIP != -1 || c.Gateway.JoinRatePerUser != -1:
		t.Errorf("loopback load needs no per-address connection or join limits")
	case c.Room.Rate < 10000:
		t.Errorf("room.rate %v throttles benchmark publishing", c.Room.Rate)
	case c.Gateway.IdleTimeout < 10*d.Gateway.IdleTimeout:
		t.Errorf("gateway.idle_timeout %v: long ramps need much more than %v", c.Gateway.IdleTimeout, d.Gateway.IdleTimeout)
	case c.Mode != ModeEmbedded || c.Fanout != d.Fanout:
		t.Errorf("bench.yaml must benchmark the default fanout in embedded mode (override with ROOMCAST_FANOUT_*)")
	}
}
