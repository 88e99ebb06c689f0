package room

import (
	"context"
	"time"
)

// SweepPeriod is how often the janitor Start runs calls Sweep: an idle
// room is forgotten between IdleTTL and IdleTTL + SweepPeriod after its
// last activity, an expired mute or ban ends within SweepPeriod (checks
// compare with the clock, so it stops applying at once).
const SweepPeriod = time.Minute

// Start runs the service's janitor (Sweep every SweepPeriod) and its fold
// loop (FoldRound every room.fold.interval, fold.go) until Close. It never
// fails; it takes a ctx and returns an error to
// look like every other component's lifecycle.
func (s *Service) Start(ctx context.Context) error {
	s.janitor.Every(SweepPeriod, func(time.Time) {
		if n := s.Sweep(s.now()); n > 0 {
			s.log.Debug("forgot idle rooms", "rooms", n)
		}
	})
	// The fold round (fold.go). Its store writes are bounded by
	// opTimeout, not by Start's ctx (which may end when Start returns).
	fctx := context.WithoutCancel(ctx)
	s.janitor.Go(func(stop <-chan struct{}) { s.foldLoop(fctx, stop) })
	return nil
}

// Close stops the janitor and waits for it (or until ctx ends), then ends
// the service's ctx: the sweep's store I/O still running stops.
func (s *Service) Close(ctx context.Context) error {
	err := s.janitor.Close(ctx)
	s.cancel()
	return err
}
