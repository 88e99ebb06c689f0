package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

// fleet is the coordinator's view of its worker processes. It is used by
// the coordinator goroutine only; each worker's stdout is read by one
// goroutine that hands its lines over on events.
type fleet struct {
	procs    []*workerProc
	events   chan event
	interval loadgen.SparseCounts // interval latencies since takeInterval
}

type workerProc struct {
	job     workerJob
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	hello   *workerMsg
	conn    *workerMsg // the "connected" line
	last    *workerMsg // the latest line with counters
	final   *workerMsg
	snaps   map[string]*workerMsg
	exited  bool
	exitErr error
	badLine error // the first line that did not parse
}

type event struct {
	w    int
	m    *workerMsg
	exit bool
	err  error
}

// startFleet starts one worker process per job.
func startFleet(argv []string, jobs []workerJob) (*fleet, error) {
	f := &fleet{events: make(chan event, 64*len(jobs)+64)}
	for i, job := range jobs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			f.kill()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			f.kill()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.kill()
			return nil, fmt.Errorf("bench: start worker %d (%s): %w", i, argv[0], err)
		}
		wp := &workerProc{job: job, cmd: cmd, stdin: stdin, snaps: make(map[string]*workerMsg)}
		f.procs = append(f.procs, wp)
		data, _ := json.Marshal(job)
		if _, err := stdin.Write(append(data, '\n')); err != nil {
			f.kill()
			return nil, fmt.Errorf("bench: worker %d: %w", i, err)
		}
		go f.read(i, stdout, cmd)
	}
	return f, nil
}

// read hands a worker's lines to the coordinator, then its exit.
func (f *fleet) read(i int, stdout io.Reader, cmd *exec.Cmd) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 256<<10), 16<<20)
	for sc.Scan() {
		m := new(workerMsg)
		if err := json.Unmarshal(sc.Bytes(), m); err != nil {
			f.events <- event{w: i, err: fmt.Errorf("worker %d: bad line: %w", i, err)}
			continue
		}
		f.events <- event{w: i, m: m}
	}
	err := cmd.Wait()
	f.events <- event{w: i, exit: true, err: err}
}

// absorb applies one event.
func (f *fleet) absorb(ev event) {
	wp := f.procs[ev.w]
	if ev.exit {
		wp.exited, wp.exitErr = true, ev.err
		return
	}
	m := ev.m
	if m == nil {
		if ev.err != nil && wp.badLine == nil {
			wp.badLine = ev.err // the report says it (a lost final line)
		}
		return
	}
	switch m.Type {
	case "hello":
		wp.hello = m
		return
	case "connected":
		wp.conn = m
	case "final":
		wp.final = m
	}
	wp.last = m
	if m.Tag != "" {
		wp.snaps[m.Tag] = m
	}
	if m.Type == "progress" {
		_ = f.interval.Add(m.Interval) // a malformed line adds nothing
	}
}

// takeInterval returns the latencies reported since the last call.
func (f *fleet) takeInterval() *hdrhistogram.Histogram { return f.interval.Take() }

// pump absorbs events until cond holds (checked after every event and
// every tick), ctx ends, or the deadline passes; onTick runs every tick.
// It reports whether cond held.
func (f *fleet) pump(ctx context.Context, every time.Duration, deadline time.Time, cond func() bool, onTick func(time.Time)) bool {
	t := time.NewTicker(every)
	defer t.Stop()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		if cond != nil && cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-timeout:
			return cond != nil && cond()
		case ev := <-f.events:
			f.absorb(ev)
		case now := <-t.C:
			if onTick != nil {
				onTick(now)
			}
		}
	}
}

// command sends a line to every live worker.
func (f *fleet) command(line string) {
	for _, wp := range f.procs {
		if !wp.exited {
			_, _ = io.WriteString(wp.stdin, line+"\n")
		}
	}
}

// snap asks every worker for a tagged report and waits for them (or their
// exit), at most 60 s; onTick (may be nil) runs every 100 ms meanwhile.
func (f *fleet) snap(ctx context.Context, tag string, onTick func(time.Time)) {
	f.command("snap " + tag)
	f.pump(ctx, 100*time.Millisecond, time.Now().Add(60*time.Second), func() bool {
		for _, wp := range f.procs {
			if wp.snaps[tag] == nil && !wp.exited {
				return false
			}
		}
		return true
	}, onTick)
}

// rate sums, over the workers, the messages each received between its
// answers to snaps from and to, divided by the time between them: a
// delivery rate that stays honest when busy workers answer late.
func (f *fleet) rate(from, to string) float64 {
	sum := 0.0
	for _, wp := range f.procs {
		a, b := wp.snaps[from], wp.snaps[to]
		if a == nil || b == nil || b.At <= a.At {
			continue
		}
		sum += float64(b.Counters.Messages-a.Counters.Messages) / (float64(b.At-a.At) / 1e9)
	}
	return sum
}

// stop tells every worker to stop and waits for their final lines and
// exits; stragglers are killed after grace.
func (f *fleet) stop(grace time.Duration) {
	for _, wp := range f.procs {
		if !wp.exited {
			_, _ = io.WriteString(wp.stdin, "stop\n")
			_ = wp.stdin.Close()
		}
	}
	done := func() bool {
		for _, wp := range f.procs {
			if !wp.exited {
				return false
			}
		}
		return true
	}
	if !f.pump(context.Background(), time.Second, time.Now().Add(grace), done, nil) {
		f.kill()
		f.pump(context.Background(), time.Second, time.Now().Add(5*time.Second), done, nil)
	}
}

func (f *fleet) kill() {
	for _, wp := range f.procs {
		if !wp.exited && wp.cmd.Process != nil {
			_ = wp.cmd.Process.Kill()
		}
	}
}

// counters sums the latest counters of every worker.
func (f *fleet) counters() (c loadgen.Counters, attempted, connected, failed int64) {
	for _, wp := range f.procs {
		if m := wp.last; m != nil {
			c.Add(m.Counters)
			attempted += m.Attempted
			connected += m.Connected
			failed += m.Failed
		}
	}
	return
}

// snapCounters sums the counters of the snap with tag.
func (f *fleet) snapCounters(tag string) (c loadgen.Counters) {
	for _, wp := range f.procs {
		if m := wp.snaps[tag]; m != nil {
			c.Add(m.Counters)
		}
	}
	return c
}

// allConnected reports whether every worker finished dialling (or died).
func (f *fleet) allConnected() bool {
	for _, wp := range f.procs {
		if wp.conn == nil && !wp.exited {
			return false
		}
	}
	return true
}
