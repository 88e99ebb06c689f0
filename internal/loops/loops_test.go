package loops

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseWaitsForEveryGoroutine: Close returns only after the group's
// goroutines returned, and a goroutine started after Close never runs.
func TestCloseWaitsForEveryGoroutine(t *testing.T) {
	var g Group
	var ticks, done atomic.Int32
	g.Every(time.Millisecond, func(time.Time) { ticks.Add(1) })
	g.Go(func(stop <-chan struct{}) {
		<-stop
		time.Sleep(20 * time.Millisecond) // a slow stop is still waited for
		done.Add(1)
	})
	deadline := time.Now().Add(5 * time.Second)
	for ticks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 1 {
		t.Fatal("Close returned before the goroutine did")
	}
	after := ticks.Load()
	g.Go(func(<-chan struct{}) { done.Add(1) })
	time.Sleep(5 * time.Millisecond)
	if done.Load() != 1 || ticks.Load() != after {
		t.Fatal("work ran after Close")
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCloseGivesUpWithItsContext: a goroutine that does not stop makes
// Close return ctx's error when ctx ends.
func TestCloseGivesUpWithItsContext(t *testing.T) {
	var g Group
	release := make(chan struct{})
	g.Go(func(<-chan struct{}) { <-release })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.Close(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWithoutStart is a no-op.
func TestCloseWithoutStart(t *testing.T) {
	var g Group
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
