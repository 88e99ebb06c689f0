package fanout

import (
	"fmt"
	"time"
)

// Pacer decides how often one viewer may be notified. It is called once per
// room walk, with the room's local viewers and the node's viewers, and must
// be cheap and goroutine-safe.
type Pacer interface {
	Interval(roomViewers, nodeViewers int) time.Duration
}

// PacerConfig configures the default BudgetPacer.
type PacerConfig struct {
	// MinInterval is the shortest time between two notifications to one
	// viewer. Default 50ms.
	MinInterval time.Duration `yaml:"min_interval"`
	// MaxInterval caps the stretched interval. Default 1s.
	MaxInterval time.Duration `yaml:"max_interval"`
	// NodeBudget is the notifications per second the whole node aims not to
	// exceed; -1 turns it off. Default 50000 (what two cores sustain with
	// room to spare: each notification costs a write and an ack read).
	NodeBudget float64 `yaml:"node_budget"`
	// RoomBudget is the notifications per second one room aims not to
	// exceed, so a room of 100k local viewers is notified less often than a
	// room of 100; -1 turns it off. Default 50000.
	RoomBudget float64 `yaml:"room_budget"`
}

// WithDefaults returns c with every zero field set to its default.
func (c PacerConfig) WithDefaults() PacerConfig {
	if c.MinInterval == 0 {
		c.MinInterval = 50 * time.Millisecond
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = time.Second
	}
	if c.NodeBudget == 0 {
		c.NodeBudget = 50000
	}
	if c.RoomBudget == 0 {
		c.RoomBudget = 50000
	}
	return c
}

// Validate reports the first invalid field.
func (c PacerConfig) Validate() error {
	switch {
	case c.MinInterval < 0:
		return fmt.Errorf("fanout.notify.min_interval: must not be negative, got %v", c.MinInterval)
	case c.MaxInterval < 0:
		return fmt.Errorf("fanout.notify.max_interval: must not be negative, got %v", c.MaxInterval)
	case c.MaxInterval != 0 && c.MaxInterval < c.MinInterval:
		return fmt.Errorf("fanout.notify.max_interval: %v is below min_interval %v", c.MaxInterval, c.MinInterval)
	case c.NodeBudget < -1:
		return fmt.Errorf("fanout.notify.node_budget: must be -1 (off) or positive, got %v", c.NodeBudget)
	case c.RoomBudget < -1:
		return fmt.Errorf("fanout.notify.room_budget: must be -1 (off) or positive, got %v", c.RoomBudget)
	}
	return nil
}

// BudgetPacer is the default Pacer: the interval is the time it takes to
// notify every viewer of the room within RoomBudget, or every viewer of the
// node within NodeBudget, whichever is longer, clamped to
// [MinInterval, MaxInterval]. With both budgets off it is a fixed interval.
type BudgetPacer struct{ cfg PacerConfig }

// NewBudgetPacer returns a pacer; zero fields take their defaults.
func NewBudgetPacer(cfg PacerConfig) *BudgetPacer { return &BudgetPacer{cfg: cfg.WithDefaults()} }

// Interval implements Pacer.
func (p *BudgetPacer) Interval(roomViewers, nodeViewers int) time.Duration {
	d := p.cfg.MinInterval
	if p.cfg.RoomBudget > 0 {
		d = max(d, time.Duration(float64(roomViewers)/p.cfg.RoomBudget*float64(time.Second)))
	}
	if p.cfg.NodeBudget > 0 {
		d = max(d, time.Duration(float64(nodeViewers)/p.cfg.NodeBudget*float64(time.Second)))
	}
	return min(d, p.cfg.MaxInterval)
}
