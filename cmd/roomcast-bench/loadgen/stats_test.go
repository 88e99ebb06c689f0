package loadgen

import (
	"sync"
	"testing"
)

func TestTakeLatencyLosesNothing(t *testing.T) {
	var s Stats
	var wg sync.WaitGroup
	total := NewHistogram()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			total.Merge(s.TakeLatency())
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				s.RecordLatency(int64(i + 1))
			}
		}()
	}
	wg.Wait()
	<-done
	total.Merge(s.TakeLatency())
	if total.TotalCount() != 4000 {
		t.Fatalf("%d samples, want 4000", total.TotalCount())
	}
	if s.Latency().TotalCount() != 0 {
		t.Fatal("take did not reset")
	}
}

func TestPriorityLatencyAndCloses(t *testing.T) {
	var s Stats
	s.RecordLatency(10)
	s.RecordPriorityLatency(10)
	s.TakeLatency()
	if s.PriorityLatency().TotalCount() != 1 {
		t.Fatal("TakeLatency reset the priority histogram")
	}
	s.recordClose(4002)
	s.recordClose(4002)
	s.recordClose(0)
	if c := s.Closes(); c[4002] != 2 || c[0] != 1 || s.Closed.Load() != 2 || s.Dropped.Load() != 1 {
		t.Fatalf("closes %v", c)
	}
	s.RecordConnect(1500)
	if s.ConnectTimes().Max() < 1500 {
		t.Fatal("connect time lost")
	}
}

func TestHistogramEncoding(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 1000; i++ {
		_ = h.RecordValue(i * 100)
	}
	enc, err := EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeHistogram(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.TotalCount() != 1000 || back.ValueAtQuantile(99) != h.ValueAtQuantile(99) {
		t.Fatalf("round trip: %d samples, p99 %d vs %d", back.TotalCount(), back.ValueAtQuantile(99), h.ValueAtQuantile(99))
	}
	if e, err := DecodeHistogram(""); err != nil || e.TotalCount() != 0 {
		t.Fatal("empty string is an empty histogram")
	}
	if _, err := DecodeHistogram("!!"); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestCountersAdd(t *testing.T) {
	a := Counters{Messages: 1, Priority: 2, FramesIn: 3, KickedViewers: 4, Dropped: 5, Unknown: 6}
	a.Add(Counters{Messages: 10, Priority: 20, FramesIn: 30, KickedViewers: 40, Dropped: 50, Pings: 1, Unknown: 60})
	if a != (Counters{Messages: 11, Priority: 22, FramesIn: 33, KickedViewers: 44, Dropped: 55, Pings: 1, Unknown: 66}) {
		t.Fatalf("%+v", a)
	}
}
