package admin

import (
	"sync"
	"time"

	"github.com/roomcast/roomcast/fanout"
)

// maxRateRooms bounds how many rooms the rate sampler remembers.
const maxRateRooms = 4096

// minRateWindow is the shortest window a rate is measured over; requests
// closer together get the last rate again.
const minRateWindow = time.Second

// rates turns the fanout's per-room counters into per-second rates over
// the time between two stats requests for the room (over the room's
// lifetime on the first request).
type rates struct {
	mu  sync.Mutex
	max int
	m   map[string]sample
}

type sample struct {
	at, since                    time.Time
	notifies, pulls              uint64
	notifyRate, pullRate, window float64
}

func newRates(max int) *rates { return &rates{max: max, m: make(map[string]sample)} }

// rate returns the notify and pull rates per second and the window (in
// seconds) they were measured over.
func (r *rates) rate(roomID string, st fanout.RoomStats, now time.Time) (notify, pull, window float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.m[roomID]
	if ok && prev.since.Equal(st.Since) {
		if now.Sub(prev.at) < minRateWindow {
			return prev.notifyRate, prev.pullRate, prev.window
		}
	} else {
		// First look (or the room's local state was made anew): the
		// lifetime average.
		prev = sample{at: st.Since, since: st.Since}
	}
	s := sample{at: now, since: st.Since, notifies: st.Notifies, pulls: st.Pulls}
	if el := now.Sub(prev.at).Seconds(); el > 0 {
		s.window = el
		s.notifyRate = float64(st.Notifies-min(prev.notifies, st.Notifies)) / el
		s.pullRate = float64(st.Pulls-min(prev.pulls, st.Pulls)) / el
	}
	if !ok && len(r.m) >= r.max {
		for k := range r.m { // forget one at random
			delete(r.m, k)
			break
		}
	}
	r.m[roomID] = s
	return s.notifyRate, s.pullRate, s.window
}
