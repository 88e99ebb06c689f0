package room

import (
	"context"
	"sync"
	"time"
)

// Hook is the before-send hook as the room service uses it
// (*hook.Client): the body to accept (replaced or not), whether the app's
// backend blocked the message, and whether it shadows it (accepted, shown
// to its sender only). It decides failures itself (fail open or closed by
// room class) and bounds its own time and concurrency.
type Hook interface {
	Judge(ctx context.Context, room, from, body, kind string) (out string, blocked, shadow bool)
}

// hookAll asks the hook about the messages of reqs that would pass the
// checks before it (ban, mute, slow mode, word filter) and are not
// privileged, all at once, before the room's lock is taken for the send.
// The earlier checks are looked at under a short lock and run again, for
// real, under the send's lock. verdicts (one per req, made if nil) takes
// the answers; it returns verdicts. ctx (the send's) bounds the calls.
func (s *Service) hookAll(ctx context.Context, r *state, reqs []SendRequest, verdicts []filtered, now time.Time) []filtered {
	if verdicts == nil {
		verdicts = make([]filtered, len(reqs))
		for i, req := range reqs {
			verdicts[i].body = req.Body
		}
	}
	ask := make([]int, 0, len(reqs))
	r.mu.Lock()
	for i, req := range reqs {
		if req.Privileged || verdicts[i].blocked || req.Body == "" || len(req.Body) > s.cfg.MaxBodyBytes ||
			active(r.banned, req.From, now) || active(r.muted, req.From, now) {
			continue
		}
		if _, err := r.slowLocked(req, now); err != nil {
			continue
		}
		if req.ClientMsgID != "" {
			// A resend the room already accepted is answered with the
			// first acceptance and posts nothing: nothing to judge.
			if _, ok := r.once.get(onceKey(req.From, req.ClientMsgID), now, s.cfg.DedupeWindow); ok {
				continue
			}
		}
		ask = append(ask, i)
	}
	r.mu.Unlock()
	if len(ask) == 0 {
		return verdicts
	}
	judge := func(i int) {
		req := reqs[i]
		body, blocked, shadow := s.hook.Judge(ctx, req.Room, req.From, verdicts[i].body, req.Kind)
		verdicts[i].body, verdicts[i].hookBlocked, verdicts[i].hookShadow = body, blocked, shadow && !blocked
	}
	if len(ask) == 1 {
		judge(ask[0])
		return verdicts
	}
	var wg sync.WaitGroup
	for _, i := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			judge(i)
		}()
	}
	wg.Wait()
	return verdicts
}
