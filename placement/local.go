package placement

import (
	"context"
	"errors"
	"sync"
)

// LocalGroup is an in-process cluster: the placement of embedded mode (a
// group of one) and of tests that run several nodes in one process. Every
// change bumps the version and is delivered to every member in order.
type LocalGroup struct {
	mu           sync.Mutex
	version      uint64
	incarnations uint64
	members      map[string]*Local
}

// NewLocalGroup returns an empty group.
func NewLocalGroup() *LocalGroup { return &LocalGroup{members: make(map[string]*Local)} }

// Local is one member of a LocalGroup.
type Local struct {
	g    *LocalGroup
	self Node

	mu       sync.Mutex
	view     View
	joined   bool
	onChange func(View, bool)
	number   int // guarded by g.mu; -1 until asked
	// deliveries are serialised per member so callbacks arrive in order.
	cbMu sync.Mutex
}

var _ Members = (*Local)(nil)

// Member returns a member for self (not registered until Start).
func (g *LocalGroup) Member(self Node) *Local { return &Local{g: g, self: self, number: -1} }

// Start implements Members.
func (m *Local) Start(_ context.Context, onChange func(View, bool)) error {
	g := m.g
	g.mu.Lock()
	if _, dup := g.members[m.self.ID]; dup {
		g.mu.Unlock()
		return errors.New("placement: node id already in the group")
	}
	g.incarnations++
	m.mu.Lock()
	m.onChange = onChange
	m.joined = true
	m.self.Incarnation = g.incarnations
	m.mu.Unlock()
	g.members[m.self.ID] = m
	g.publishLocked()
	g.mu.Unlock()
	return nil
}

// publishLocked builds the next view and hands it to every member.
func (g *LocalGroup) publishLocked() {
	g.version++
	nodes := make([]Node, 0, len(g.members))
	for _, mem := range g.members {
		nodes = append(nodes, mem.self)
	}
	v := NewView(g.version, nodes)
	for _, mem := range g.members {
		mem.deliver(v)
	}
}

func (m *Local) deliver(v View) {
	m.cbMu.Lock()
	defer m.cbMu.Unlock()
	m.mu.Lock()
	m.view = v
	cb := m.onChange
	m.mu.Unlock()
	if cb != nil {
		cb(v, true)
	}
}

// Number returns the member's position-free number in the group: unique
// among the group's live members.
func (m *Local) Number() int {
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	used := map[int]bool{}
	for _, o := range m.g.members {
		if o != m && o.number >= 0 {
			used[o.number] = true
		}
	}
	if m.number < 0 || used[m.number] {
		for n := 0; ; n++ {
			if !used[n] {
				m.number = n
				break
			}
		}
	}
	return m.number
}

// View implements Members.
func (m *Local) View() (View, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view, m.joined
}

// Close implements Members. Local runs no goroutines: it returns at once.
func (m *Local) Close(context.Context) error {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.self.ID] != m {
		return nil
	}
	delete(g.members, m.self.ID)
	m.mu.Lock()
	m.joined = false
	m.mu.Unlock()
	g.publishLocked()
	return nil
}
