package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log lines a client can cause (a protocol violation, a frame that cannot
// be answered) go through a logLimiter: at most one line per reason per
// logEvery, never one per frame, and the next line says how many were
// left out. Reasons are fixed strings (never a client's bytes), so the
// set is small; past maxLogReasons they share one slot.

const (
	logEvery      = 10 * time.Second
	maxLogReasons = 64
	slogWarn      = slog.LevelWarn
	slogError     = slog.LevelError
)

type logLimiter struct {
	mu    sync.Mutex
	slots map[string]*logSlot
}

type logSlot struct {
	last       time.Time
	suppressed int
}

// log writes msg at level unless a line for reason went out less than
// logEvery ago; then it only counts it.
func (l *logLimiter) log(lg *slog.Logger, level slog.Level, reason, msg string, args ...any) {
	if !lg.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.slots == nil {
		l.slots = make(map[string]*logSlot)
	}
	s := l.slots[reason]
	if s == nil {
		if len(l.slots) >= maxLogReasons {
			reason = "other"
			s = l.slots[reason]
		}
		if s == nil {
			s = &logSlot{}
			l.slots[reason] = s
		}
	}
	if !s.last.IsZero() && now.Sub(s.last) < logEvery {
		s.suppressed++
		l.mu.Unlock()
		return
	}
	s.last = now
	n := s.suppressed
	s.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Log(context.Background(), level, msg, args...)
}
