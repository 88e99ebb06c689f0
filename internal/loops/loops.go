package loops

import (
	"context"
	"sync"
	"time"
)

// Group owns a set of goroutines.
type Group struct {
	mu     sync.Mutex
	stop   chan struct{}
	closed bool
	wg     sync.WaitGroup
}

func (g *Group) stopCh() chan struct{} {
	if g.stop == nil {
		g.stop = make(chan struct{})
	}
	return g.stop
}

// Go runs f on a goroutine of the group; f returns when stop is closed.
// After Close it does nothing.
func (g *Group) Go(f func(stop <-chan struct{})) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	stop := g.stopCh()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(stop)
	}()
}

// Every runs f every period (the first time one period after the call)
// until Close; now is the tick's time.
func (g *Group) Every(period time.Duration, f func(now time.Time)) {
	g.Go(func(stop <-chan struct{}) {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				f(now)
			}
		}
	})
}

// Close stops the group's goroutines and waits for them, or until ctx
// ends (then it returns ctx's error; they still stop). Close is
// idempotent.
func (g *Group) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.stopCh())
	}
	g.mu.Unlock()
	return Wait(ctx, &g.wg)
}

// Wait waits for wg, or until ctx ends (then it returns ctx's error).
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
