package room

import "sync/atomic"

// Filter is the word filter as the room service uses it (*filter.Filter):
// the body to accept (masked), whether the message is blocked, and
// whether it is held (accepted, shown to its sender only). It must be
// safe for concurrent use.
type Filter interface {
	Judge(body string) (out string, blocked, held bool)
}

type filterBox struct{ f Filter }

// filterRef is the service's current filter, swapped whole on a reload.
type filterRef struct{ p atomic.Pointer[filterBox] }

// SetFilter puts a word filter in force for every room from the next
// message on (nil: none). Messages being checked keep the filter they
// started with.
func (s *Service) SetFilter(f Filter) {
	if f == nil {
		s.filter.p.Store(nil)
		return
	}
	s.filter.p.Store(&filterBox{f: f})
}

// filterAll judges the bodies of reqs before the room's lock is taken (the
// filter's cost never holds up the room). Privileged senders (admin and
// system notices) are not filtered. It returns nil when no filter is set.
func (s *Service) filterAll(reqs []SendRequest) []filtered {
	box := s.filter.p.Load()
	if box == nil {
		return nil
	}
	out := make([]filtered, len(reqs))
	for i, req := range reqs {
		if req.Privileged || req.Body == "" {
			out[i] = filtered{body: req.Body}
			continue
		}
		body, blocked, held := box.f.Judge(req.Body)
		out[i] = filtered{body: body, blocked: blocked, held: held && !blocked}
		switch {
		case blocked:
			s.metrics.filtered.WithLabelValues("block").Inc()
		case held:
			s.metrics.filtered.WithLabelValues("hold").Inc()
		case body != req.Body:
			s.metrics.filtered.WithLabelValues("mask").Inc()
		}
	}
	return out
}

// filtered is the word filter's verdict on one message.
type filtered struct {
	body        string
	blocked     bool // by the word filter
	hookBlocked bool // by the before-send hook (moderation_hook.go)
	held        bool // held by the word filter: shown to its sender only
	hookShadow  bool // shadowed by the before-send hook: the same
}
