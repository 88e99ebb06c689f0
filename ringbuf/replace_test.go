package ringbuf

import (
	"testing"
	"time"
)

func TestRingReplace(t *testing.T) {
	r := NewRing[string](4)
	for seq := uint64(1); seq <= 6; seq++ { // holds 3..6
		if _, err := r.Append(seq, "m"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		seq  uint64
		want bool
	}{{0, false}, {2, false}, {3, true}, {6, true}, {7, false}} {
		if got := r.Replace(tc.seq, "x"); got != tc.want {
			t.Errorf("Replace(%d) = %v, want %v", tc.seq, got, tc.want)
		}
	}
	var got []string
	res := r.Read(0, 0, func(_ uint64, v string) bool { got = append(got, v); return true })
	if want := []string{"x", "m", "m", "x"}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[3] != want[3] {
		t.Fatalf("read %v, want %v", got, want)
	}
	if res.Last != 6 || r.Head() != 6 || r.Len() != 4 || r.Evicted() != 2 {
		t.Fatalf("replace changed the ring: %+v head %d len %d evicted %d", res, r.Head(), r.Len(), r.Evicted())
	}
}

func TestPriorityReplace(t *testing.T) {
	now := time.Unix(1000, 0)
	p := NewPriority[string](PriorityConfig{MaxItems: 8})
	for _, seq := range []uint64{2, 3, 5, 9} {
		if err := p.Push(seq, "m", 10, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		seq  uint64
		want bool
	}{{1, false}, {2, true}, {4, false}, {5, true}, {9, true}, {10, false}} {
		if got := p.Replace(tc.seq, "x", 1); got != tc.want {
			t.Errorf("Replace(%d) = %v, want %v", tc.seq, got, tc.want)
		}
	}
	if p.Bytes() != 10+3 || p.Len() != 4 || p.Head() != 9 {
		t.Fatalf("bytes %d len %d head %d, want 13 4 9", p.Bytes(), p.Len(), p.Head())
	}
	var got string
	p.Read(0, 0, func(_ uint64, v string) bool { got += v; return true })
	if got != "xmxx" {
		t.Fatalf("read %q, want xmxx", got)
	}
}

func TestBufferReplaceLanes(t *testing.T) {
	b := NewBuffer[string](BufferConfig{RingSize: 4})
	if _, err := b.Append(1, "n"); err != nil {
		t.Fatal(err)
	}
	if err := b.PushPriority(1, "p", 1, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if !b.Replace(false, 1, "N", 0) || !b.Replace(true, 1, "P", 1) || b.Replace(false, 2, "?", 0) {
		t.Fatal("Replace results wrong")
	}
	var got string
	b.Read(0, 0, 0, func(_ bool, _ uint64, v string) bool { got += v; return true })
	if got != "PN" {
		t.Fatalf("read %q, want PN", got)
	}
}

func TestBufferUpdate(t *testing.T) {
	b := NewBuffer[string](BufferConfig{RingSize: 4})
	for seq := uint64(1); seq <= 2; seq++ {
		if _, err := b.Append(seq, "n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PushPriority(1, "p", 1, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	up := func(v string) (string, int, bool) { return v + "!", 2, true }
	if !b.Update(false, 2, up) || !b.Update(true, 1, up) || b.Update(false, 3, up) || b.Update(true, 2, up) {
		t.Fatal("Update results wrong")
	}
	if b.Update(false, 1, func(string) (string, int, bool) { return "no", 0, false }) {
		t.Fatal("an Update that declined replaced the item")
	}
	var got string
	b.Read(0, 0, 0, func(_ bool, _ uint64, v string) bool { got += v + ","; return true })
	if got != "p!,n,n!," {
		t.Fatalf("read %q", got)
	}
	if st := b.Stats(); st.Priority.Bytes != 2 {
		t.Fatalf("priority bytes %d, want 2", st.Priority.Bytes)
	}
}
