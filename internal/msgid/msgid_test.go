package msgid

import (
	"sync"
	"testing"
	"time"
)

func TestIncreasingAndUnique(t *testing.T) {
	fixed := Epoch.Add(time.Hour)
	g, err := New(7, func() time.Time { return fixed })
	if err != nil {
		t.Fatal(err)
	}
	var prev uint64
	for i := 0; i < 3*4096; i++ { // overflows the per-ms sequence twice
		id := g.Next()
		if id <= prev {
			t.Fatalf("id %d not above %d at %d", id, prev, i)
		}
		if Node(id) != 7 {
			t.Fatalf("node = %d", Node(id))
		}
		prev = id
	}
	if got := Time(prev); got.Before(fixed) || got.After(fixed.Add(3*time.Millisecond)) {
		t.Fatalf("time = %v", got)
	}
}

func TestClockBackwards(t *testing.T) {
	now := Epoch.Add(time.Hour)
	g, _ := New(1, func() time.Time { return now })
	a := g.Next()
	now = now.Add(-time.Minute)
	if b := g.Next(); b <= a {
		t.Fatalf("id went back: %d then %d", a, b)
	}
}

func TestNodesDoNotCollide(t *testing.T) {
	fixed := Epoch.Add(time.Hour)
	seen := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := 0; n < 4; n++ {
		g, _ := New(n, func() time.Time { return fixed })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				id := g.Next()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestNodeRange(t *testing.T) {
	if _, err := New(-1, nil); err == nil {
		t.Fatal("no error for -1")
	}
	if _, err := New(MaxNode+1, nil); err == nil {
		t.Fatal("no error for MaxNode+1")
	}
}
