package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
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
	s.recordClose(4002, nil)
	s.recordClose(4002, nil)
	s.recordClose(0, io.EOF)
	if c := s.Closes(); c[4002] != 2 || c[0] != 1 || s.Closed.Load() != 2 || s.Dropped.Load() != 1 {
		t.Fatalf("closes %v", c)
	}
	if d := s.Drops(); len(d) != 1 || d["eof"] != 1 {
		t.Fatalf("drops %v, want the one close without a frame as eof", d)
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

func TestSparseRoundTrip(t *testing.T) {
	h := NewHistogram()
	for _, v := range []int64{1, 2, 999, 1500, 1500, 12_345, 9_876_543, 600_000_000} {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	var sc SparseCounts
	if err := sc.Add(EncodeSparse(h)); err != nil {
		t.Fatal(err)
	}
	if err := sc.Add(EncodeSparse(h)); err != nil {
		t.Fatal(err)
	}
	got := sc.Take()
	want := NewHistogram()
	want.Merge(h)
	want.Merge(h)
	if !got.Equals(want) {
		t.Fatalf("sparse round trip: got %v samples, want %v", got.TotalCount(), want.TotalCount())
	}
	for _, q := range []float64{0, 50, 90, 99, 100} {
		if a, b := got.ValueAtQuantile(q), want.ValueAtQuantile(q); a != b {
			t.Errorf("q%v: %d, want %d", q, a, b)
		}
	}
	if again := sc.Take(); again.TotalCount() != 0 {
		t.Errorf("Take did not start over: %d samples", again.TotalCount())
	}
	if EncodeSparse(NewHistogram()) != "" {
		t.Error("empty histogram encodes to something")
	}
}

func TestSparseRejectsMalformed(t *testing.T) {
	for _, enc := range []string{"x", "1", "1:", ":1", "1:0", "1:-2", "-1:3", "1:2,", ",1:2", "99999999:1", "1:2,3", "1:2;3:4"} {
		var sc SparseCounts
		if err := sc.Add("5:1"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Add(enc); !errors.Is(err, ErrSparse) {
			t.Errorf("Add(%q) = %v, want ErrSparse", enc, err)
		}
		if n := sc.Take().TotalCount(); n != 1 {
			t.Errorf("after Add(%q): %d samples, want the 1 added before", enc, n)
		}
	}
}

func TestTakeLatencyIntoResets(t *testing.T) {
	var s Stats
	s.Warm()
	s.RecordLatencies([]int64{100, 200, 300})
	dst := NewHistogram()
	_ = dst.RecordValue(7) // stale: must be dropped
	s.TakeLatencyInto(dst)
	if dst.TotalCount() != 3 || dst.Min() != 100 {
		t.Fatalf("first take: %d samples, min %d; want 3, 100", dst.TotalCount(), dst.Min())
	}
	s.RecordLatency(400)
	s.TakeLatencyInto(dst)
	if dst.TotalCount() != 1 || dst.Min() < 399 {
		t.Fatalf("second take: %d samples, min %d; want only the 400", dst.TotalCount(), dst.Min())
	}
}

func TestWarmAllocatesBeforeTheFirstSample(t *testing.T) {
	var s Stats
	s.Warm()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s.RecordLatencies([]int64{1500, 1600}) // the run's first message
	s.RecordPriorityLatency(1500)
	runtime.ReadMemStats(&after)
	// A histogram is about 170 KiB; without Warm the first samples
	// allocate two.
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("the first samples after Warm allocated %d bytes", d)
	}
}

// TestDropKind: a connection that broke without a close frame is told by
// the error its reader or last write saw, wrapped as the net package and
// the poller wrap them.
func TestDropKind(t *testing.T) {
	sys := func(op string, e syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, e)}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{io.EOF, "eof"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "eof"},
		{sys("read", syscall.ECONNRESET), "reset"},
		{syscall.ECONNRESET, "reset"},
		{sys("write", syscall.EPIPE), "broken_pipe"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "timeout"},
		{syscall.ETIMEDOUT, "etimedout"},
		{sys("read", syscall.ETIMEDOUT), "etimedout"},
		{wspoll.ErrPending, "tool_backlog"},
		{&wspoll.ProtocolError{Code: wspoll.CloseProtocol, Reason: "masked frame"}, "protocol"},
		{errors.New("something else"), "other"},
		{nil, "other"},
	} {
		if got := DropKind(c.err); got != c.want {
			t.Errorf("DropKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// Without takes a run's start out of its whole, bucket by bucket, and
// never counts below zero.
func TestWithout(t *testing.T) {
	total, part := NewHistogram(), NewHistogram()
	for _, v := range []int64{100, 200, 300, 300_000, 900_000} {
		_ = total.RecordValue(v)
	}
	_ = part.RecordValue(100)
	_ = part.RecordValue(900_000)
	_ = part.RecordValue(5) // more than total holds there
	rest := Without(total, part)
	if rest.TotalCount() != 3 || rest.Min() != 200 || rest.Max() < 300_000 || rest.Max() > 300_500 {
		t.Fatalf("rest: %d samples, %d..%d; want 200, 300, 300000", rest.TotalCount(), rest.Min(), rest.Max())
	}
	if total.TotalCount() != 5 || part.TotalCount() != 3 {
		t.Fatal("Without changed its arguments")
	}
}

// BenchmarkRecordFrames records what one reader goroutine (the worker's
// poller) records for a run's Notifies: batches of 40 latencies between
// 100 ms and 900 ms, into the three sets a --kernel-times run fills.
func BenchmarkRecordFrames(b *testing.B) {
	var s Stats
	s.Warm()
	batch := make([]int64, 40)
	for i := range batch {
		batch[i] = 100_000 + int64(i)*20_000
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch[i%40] += 7
		s.RecordLatencies(batch)
		s.RecordArrivals(batch, batch)
	}
}
