package ringbuf

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var benchSink uint64

func fullRing(b *testing.B, c int) *Ring[uint64] {
	b.Helper()
	r := NewRing[uint64](c)
	for s := uint64(1); s <= uint64(c); s++ {
		if _, err := r.Append(s, s); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func BenchmarkRingAppend(b *testing.B) {
	r := NewRing[uint64](1024)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if _, err := r.Append(seq, seq); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRingReadTail(b *testing.B) {
	r := fullRing(b, 1024)
	after := r.Head() - 20
	var sum uint64
	visit := func(seq uint64, v uint64) bool { sum += v; return true }
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Read(after, 20, visit); res.Count != 20 {
			b.Fatalf("read %+v", res)
		}
	}
	benchSink = sum
}

func BenchmarkRingReadFull(b *testing.B) {
	r := fullRing(b, 1024)
	var sum uint64
	visit := func(seq uint64, v uint64) bool { sum += v; return true }
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Read(0, 0, visit); res.Count != 1024 {
			b.Fatalf("read %+v", res)
		}
	}
	benchSink = sum
}

func BenchmarkBufferReadParallel(b *testing.B) {
	buf := NewBuffer[uint64](BufferConfig{RingSize: 1024})
	for s := uint64(1); s <= 1024; s++ {
		buf.Append(s, s)
	}
	for s := uint64(1); s <= 16; s++ {
		buf.PushPriority(s, s, 100, t0)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // one writer, appending steadily
		defer wg.Done()
		for s := uint64(1025); !stop.Load(); s++ {
			buf.Append(s, s)
			if s%64 == 0 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sum uint64
		visit := func(prio bool, seq uint64, v uint64) bool { sum += v; return true }
		for pb.Next() {
			head, phead := buf.Heads()
			after := head - min(head, 20)
			buf.Read(after, phead-1, 20, visit)
		}
		atomic.AddUint64(&benchSink, sum)
	})
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
}

func BenchmarkPriorityPush(b *testing.B) {
	p := NewPriority[uint64](PriorityConfig{MaxItems: 256, MaxBytes: 1 << 20, MaxAge: time.Minute})
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := p.Push(seq, seq, 100, t0); err != nil {
			b.Fatal(err)
		}
	}
}
