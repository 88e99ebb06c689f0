package offline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SweepPeriod is how often the janitor Start runs calls Sweep.
const SweepPeriod = time.Minute

// Start runs the service's periodic work until Close: Sweep every
// SweepPeriod and, on a RedisStore, the durability check. On a RedisStore
// it first checks that Redis fsyncs every write before the node
// acknowledges messages stored in it (docs/offline.md): without it Start
// fails unless Config.UnsafeNoFsync is set (then it warns); while a later
// check (every Config.DurabilityCheck) finds it off, the store refuses
// messages with STORE_UNAVAILABLE.
func (s *Service) Start(ctx context.Context) error {
	if rs, ok := s.store.(*RedisStore); ok {
		err := rs.CheckDurability(ctx)
		switch {
		case err != nil && !s.cfg.UnsafeNoFsync:
			return fmt.Errorf("%w (set offline.unsafe_no_fsync to start anyway)", err)
		case err != nil:
			s.log.Warn("UNSAFE: offline messages may be lost", "err", err)
		}
		if !s.cfg.UnsafeNoFsync {
			s.janitor.Go(func(stop <-chan struct{}) { s.watchDurability(rs, stop) })
		}
	}
	s.janitor.Every(SweepPeriod, func(time.Time) {
		if n := s.Sweep(); n > 0 {
			s.log.Debug("reclaimed offline entries and dedupe records", "n", n)
		}
	})
	return nil
}

// Close stops the periodic work and waits for it (or until ctx ends).
func (s *Service) Close(ctx context.Context) error { return s.janitor.Close(ctx) }

// watchDurability checks again every Config.DurabilityCheck that Redis
// fsyncs every write (RedisStore.RecheckDurability) until stop.
func (s *Service) watchDurability(rs *RedisStore, stop <-chan struct{}) {
	every := s.cfg.DurabilityCheck
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false // a check that could not ask Redis: warned once in a row
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		// This goroutine owns its lifetime (it ends with stop): each check
		// gets its own bounded context.
		ctx, cancel := context.WithTimeout(context.Background(), min(every, 5*time.Second))
		changed, err := rs.RecheckDurability(ctx)
		cancel()
		switch {
		case changed && err != nil:
			s.log.Error("offline messages refused until Redis fsyncs every write again", "err", err)
		case changed:
			s.log.Info("offline messages accepted again: Redis fsyncs every write")
		case err != nil && !errors.Is(err, ErrNotDurable) && !failing:
			s.log.Warn("offline durability check failed", "err", err)
		}
		failing = err != nil && !errors.Is(err, ErrNotDurable)
	}
}
