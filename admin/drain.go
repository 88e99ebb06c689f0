package admin

import (
	"fmt"
	"time"
)

// Drainer drains the node that serves the request (the server): it leaves
// the cluster, tells its clients to reconnect spread over the drain window,
// and stops once they are gone.
type Drainer interface {
	// StartDrain begins the drain and returns at once; a second call
	// reports the drain in progress (Started false).
	StartDrain() (DrainResult, error)
}

// DrainResult answers POST /api/v1/node/drain.
type DrainResult struct {
	Node string `json:"node"`
	// Started is false when the node was already draining.
	Started bool `json:"started"`
	// Connections is how many clients were told to reconnect (0 when
	// Started is false).
	Connections int `json:"connections"`
	// WindowMs is gateway.drain_window: the clients come back spread over
	// it (0: all at once).
	WindowMs int64 `json:"window_ms"`
}

func (h *Handler) drainRoutes() {
	h.route("POST /api/v1/node/drain", adminOnly, h.drain)
}

func (h *Handler) drain(c *call) (any, error) {
	if h.d.Drain == nil {
		return nil, fmt.Errorf("%w: no drain", ErrNotWired)
	}
	res, err := h.d.Drain.StartDrain()
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: drain node", "by", c.who, "node", res.Node, "started", res.Started,
		"conns", res.Connections, "window", time.Duration(res.WindowMs)*time.Millisecond)
	return res, nil
}
