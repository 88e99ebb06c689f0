// Package msgid generates unique, time-ordered 64-bit message ids:
// 40 bits of milliseconds since 2025-01-01 UTC (34 years), 12 bits of node
// number and 12 bits of per-millisecond sequence (4,096,000 ids per second
// per node; past that the generator borrows from the next millisecond).
// Ids from different nodes never collide as long as their node numbers
// differ.
//
// A Generator is safe for concurrent use and starts no goroutines.
package msgid

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Epoch is the zero of the id clock.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	nodeBits = 12
	seqBits  = 12
	// MaxNode is the largest node number.
	MaxNode = 1<<nodeBits - 1
	seqMask = 1<<seqBits - 1
)

// Generator hands out ids for one node.
type Generator struct {
	node atomic.Uint64
	now  func() time.Time

	mu   sync.Mutex
	last uint64 // last millisecond used
	seq  uint64
}

// New returns a generator for the node number (0..MaxNode). now defaults to
// time.Now.
func New(node int, now func() time.Time) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("msgid: node %d out of range 0..%d", node, MaxNode)
	}
	if now == nil {
		now = time.Now
	}
	g := &Generator{now: now}
	g.node.Store(uint64(node))
	return g, nil
}

// Next returns a new id, larger than every id this generator returned before.
func (g *Generator) Next() uint64 {
	ms := uint64(max(g.now().Sub(Epoch).Milliseconds(), 0))
	g.mu.Lock()
	if ms <= g.last {
		// Same millisecond, or the clock went back: stay on the last one.
		ms = g.last
		g.seq++
		if g.seq > seqMask {
			ms++
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.last = ms
	id := ms<<(nodeBits+seqBits) | g.node.Load()<<seqBits | g.seq
	g.mu.Unlock()
	return id
}

// SetNode changes the node number (cluster mode learns its number from
// ZooKeeper after the generator was built).
func (g *Generator) SetNode(node int) error {
	if node < 0 || node > MaxNode {
		return fmt.Errorf("msgid: node %d out of range 0..%d", node, MaxNode)
	}
	g.node.Store(uint64(node))
	return nil
}

// Time returns when an id was made.
func Time(id uint64) time.Time {
	return Epoch.Add(time.Duration(id>>(nodeBits+seqBits)) * time.Millisecond)
}

// Node returns the node number an id was made on.
func Node(id uint64) int { return int(id >> seqBits & MaxNode) }
