package bench

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

// Storm traffic (docs/load-tool.md, "Like storms, gifts and capped
// viewers"): likes (kind "like", which the room's owner folds into one
// counted item per round) from plain connections, and gifts (kind "gift"
// from connections whose token has the gifter role: high class, the
// priority lane) paced like the chat publishers, during the same window.
// A gift answered with priority set is a priority message every viewer
// must get: gifts accepted add to delivery.priority_expected. Likes reach
// viewers as folded items, not one by one: they add nothing to the
// expected counts; the viewers' like totals are checked instead.

// Storm is the report's storm section.
type Storm struct {
	LikeRatePerS float64 `json:"like_rate_per_s"`
	Likers       int     `json:"likers"`
	// LikersFrom: "viewers" (likers are viewers of the run) or
	// "connections" (connections of their own; Config.LikersFrom).
	LikersFrom string `json:"likers_from"`
	LikesSent  uint64 `json:"likes_sent"`
	// LikeFrames are the Send frames the likes took: one per liker, room
	// and LikeWindowMs (batched as the SDKs do), or one per like when the
	// window is negative.
	LikeFrames   uint64  `json:"like_frames"`
	LikeWindowMs float64 `json:"like_window_ms"`
	// LikesAccepted are the likes answered Sent: the room's like total
	// must end at exactly this (a fresh room).
	LikesAccepted   uint64            `json:"likes_accepted"`
	LikesRefused    uint64            `json:"likes_refused"`
	LikeErrors      map[string]uint64 `json:"like_errors"`
	LikesUnanswered uint64            `json:"likes_unanswered"`
	// ViewerLikeTotalMin and Max are the lowest and highest like total a
	// viewer saw (its Joined's, then its like items'); ViewersAtAccepted
	// counts the viewers whose total equals LikesAccepted.
	ViewerLikeTotalMin uint64 `json:"viewer_like_total_min"`
	ViewerLikeTotalMax uint64 `json:"viewer_like_total_max"`
	ViewersReporting   int    `json:"viewers_reporting"`
	ViewersAtAccepted  int    `json:"viewers_at_accepted"`
	// The lowest like total an uncapped and a capped viewer saw.
	UncappedLikeTotalMin uint64 `json:"uncapped_like_total_min"`
	CappedLikeTotalMin   uint64 `json:"capped_like_total_min"`
	// FoldedItems are the folded items viewers received (all viewers).
	FoldedItems  uint64  `json:"folded_items"`
	GiftRatePerS float64 `json:"gift_rate_per_s"`
	Gifters      int     `json:"gifters"`
	GiftsSent    uint64  `json:"gifts_sent"`
	// GiftsAccepted are the gifts answered in the priority lane; each
	// adds one priority message per viewer to delivery.priority_expected.
	GiftsAccepted uint64 `json:"gifts_accepted"`
	// Capped viewers: their cap, and the plain normal (chat) and priority
	// messages each got; AllowedNormal is cap x (publishing + drain
	// seconds) + cap (its burst), what the cap lets through at most.
	Capped          int     `json:"capped"`
	CapRate         int     `json:"cap_rate"`
	CappedNormalMin uint64  `json:"capped_normal_min"`
	CappedNormalMax uint64  `json:"capped_normal_max"`
	CappedPrioMin   uint64  `json:"capped_priority_min"`
	CappedPrioMax   uint64  `json:"capped_priority_max"`
	AllowedNormal   float64 `json:"capped_allowed_normal"`
}

// viewSummary is what a worker's viewers saw of folding and the cap.
type viewSummary struct {
	Viewers      int            `json:"viewers"`
	LikeMin      uint64         `json:"like_min"`
	LikeMax      uint64         `json:"like_max"`
	LikeCounts   map[uint64]int `json:"like_counts"` // like total -> viewers (few distinct values)
	Capped       int            `json:"capped"`
	CappedNormal [2]uint64      `json:"capped_normal"` // min, max
	CappedPrio   [2]uint64      `json:"capped_prio"`
	CappedLike   [2]uint64      `json:"capped_like"`   // min, max like total of capped viewers
	UncappedLike [2]uint64      `json:"uncapped_like"` // the same for the others
	// Likes is what its liking viewers sent and how the server answered
	// (job.Likers); nil: none.
	Likes *loadgen.Tally `json:"likes,omitempty"`
}

// views summarizes the worker's viewers (at the end of the run).
func (w *worker) views() *viewSummary {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &viewSummary{LikeCounts: map[uint64]int{}, LikeMin: math.MaxUint64,
		CappedNormal: [2]uint64{math.MaxUint64, 0}, CappedPrio: [2]uint64{math.MaxUint64, 0},
		CappedLike: [2]uint64{math.MaxUint64, 0}, UncappedLike: [2]uint64{math.MaxUint64, 0}}
	for _, v := range w.viewers {
		if v == nil {
			continue
		}
		s.Viewers++
		l := v.Likes()
		s.LikeMin, s.LikeMax = min(s.LikeMin, l), max(s.LikeMax, l)
		if len(s.LikeCounts) < 64 {
			s.LikeCounts[l]++
		}
		lk := &s.UncappedLike
		if v.Capped() {
			lk = &s.CappedLike
		}
		*lk = [2]uint64{min(lk[0], l), max(lk[1], l)}
		v.FinishLikes()
		if v.Capped() {
			n, p := v.Received()
			s.Capped++
			s.CappedNormal = [2]uint64{min(s.CappedNormal[0], n), max(s.CappedNormal[1], n)}
			s.CappedPrio = [2]uint64{min(s.CappedPrio[0], p), max(s.CappedPrio[1], p)}
		}
	}
	if w.job.Likers > 0 {
		t := w.likes.Tally() // after every FinishLikes
		s.Likes = &t
	}
	return s
}

// liking reports whether the viewer of global index i taps the like
// button (job.Likers: the ones right after the capped viewers).
func (w *worker) liking(i int) bool {
	return w.job.Likers > 0 && i >= w.job.Capped && i < w.job.Capped+w.job.Likers
}

// likeSpan is when a run's likes are sent: from T0 for Duration.
type likeSpan struct {
	T0       time.Time
	Duration time.Duration
}

// String is the "likes" command's argument (parseLikeSpan reads it).
func (sp likeSpan) String() string {
	return fmt.Sprintf("%d %d", sp.T0.UnixNano(), sp.Duration.Nanoseconds())
}

func parseLikeSpan(arg string) (likeSpan, error) {
	var t0, d int64
	if _, err := fmt.Sscanf(arg, "%d %d", &t0, &d); err != nil || d < 0 {
		return likeSpan{}, fmt.Errorf("likes %q: want <t0 unix ns> <duration ns>", arg)
	}
	return likeSpan{T0: time.Unix(0, t0), Duration: time.Duration(d)}, nil
}

// tap sends the worker's liking viewers' taps over sp: each taps
// job.LikeRate times a second from sp.T0, and every job.LikeWindow (and
// once at the end) sends the taps that came due since its last Send as
// one, as the SDKs batch them. A viewer gone (kicked, closed) sends no
// more. So every liker sends floor(LikeRate x Duration) likes in all.
func (w *worker) tap(ctx context.Context, sp likeSpan) {
	if w.job.Likers == 0 || w.job.LikeRate <= 0 || w.job.LikeWindow <= 0 {
		return
	}
	type tapper struct {
		v    *loadgen.Viewer
		sent uint64
		gone bool // a write failed: the connection is lost
	}
	var tappers []tapper
	w.mu.Lock()
	for j, v := range w.viewers {
		if v != nil && w.liking(w.job.First+j) {
			tappers = append(tappers, tapper{v: v})
		}
	}
	w.mu.Unlock()
	end := sp.T0.Add(sp.Duration)
	t := time.NewTicker(w.job.LikeWindow)
	defer t.Stop()
	for {
		now := time.Now()
		el := min(now.Sub(sp.T0), sp.Duration)
		due := uint64(max(0, math.Floor(w.job.LikeRate*el.Seconds())))
		for i := range tappers {
			tp := &tappers[i]
			for tp.sent < due && !tp.gone && !tp.v.Kicked() {
				n := uint32(min(due-tp.sent, loadgen.MaxLikeCount))
				tp.gone = tp.v.SendLikes(n) != nil // counted unanswered then
				tp.sent += uint64(n)
			}
		}
		if !now.Before(end) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-time.After(time.Until(end)):
		}
	}
}

// storm is the running storm traffic.
type storm struct {
	likes, gifts    *loadgen.PublishStats
	likers, gifters []publisher
	batch           *likeBatcher // nil: one Send per like
	pubs            []*loadgen.Publisher
	readers         sync.WaitGroup
	stop            context.CancelFunc
	closeOnce       sync.Once
}

// startStorm connects the likers and gifters of cfg.
func startStorm(ctx context.Context, cfg Config, rooms []string) (*storm, error) {
	st := &storm{likes: loadgen.NewPublishStats(), gifts: loadgen.NewPublishStats()}
	if cfg.LikeRate == 0 && cfg.GiftRate == 0 {
		return st, nil
	}
	keys, err := auth.NewKeyring(auth.Key{ID: cfg.KeyID, Secret: []byte(cfg.Secret)})
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(context.Background())
	st.stop = stop
	if cfg.LikeWindow > 0 {
		st.batch = &likeBatcher{}
	}
	dial := func(name string, roles []string, n int, stats *loadgen.PublishStats) ([]publisher, error) {
		var out []publisher
		for p := range n {
			tok, err := keys.Mint(fmt.Sprintf("bench-%s-%d", name, p), roles, 24*time.Hour, time.Now())
			if err != nil {
				return nil, err
			}
			prooms := publisherRooms(rooms, p, n)
			dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			// Likers join capped at 1 message/s: they are there to send,
			// and a connection must join to send.
			var maxRate int32
			if name == "liker" {
				maxRate = 1
			}
			pub, err := loadgen.DialPublisher(dctx, loadgen.PublisherConfig{URL: cfg.URLs[p%len(cfg.URLs)], Token: tok, Rooms: prooms,
				JSON: cfg.Encoding == "json", MaxRate: maxRate}, stats, &loadgen.Stats{})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("bench: %s %d: %w", name, p, err)
			}
			st.pubs = append(st.pubs, pub)
			st.readers.Add(1)
			go func() {
				defer st.readers.Done()
				_ = pub.Run(rctx)
			}()
			kind, body := "like", "\u2764"
			if name == "gifter" {
				kind = "gift"
			}
			if name == "liker" && st.batch != nil {
				i := st.batch.addLiker(pub)
				out = append(out, publisher{rooms: prooms, send: func(local int, _ bool) error {
					st.batch.add(i, local)
					return nil
				}})
				continue
			}
			out = append(out, publisher{rooms: prooms, send: func(local int, _ bool) error {
				if kind == "gift" {
					body = loadgen.Body(cfg.Body) // gifts carry a send time: their latency is measured
				}
				return pub.SendKind(local, body, kind, false)
			}})
		}
		return out, nil
	}
	if cfg.LikeRate > 0 && !cfg.likersAreViewers() {
		if st.likers, err = dial("liker", nil, cfg.Likers, st.likes); err != nil {
			st.close()
			return nil, err
		}
	}
	if cfg.GiftRate > 0 {
		if st.gifters, err = dial("gifter", []string{"gifter"}, cfg.Gifters, st.gifts); err != nil {
			st.close()
			return nil, err
		}
	}
	return st, nil
}

// run sends likes and gifts at their rates from t0 for cfg.Duration.
// Batched likes are sent every cfg.LikeWindow while the likes run, and
// once more when they end.
func (st *storm) run(ctx context.Context, cfg Config, t0 time.Time) {
	var wg sync.WaitGroup
	for _, x := range []struct {
		rate  float64
		pubs  []publisher
		batch *likeBatcher
	}{{cfg.LikeRate, st.likers, st.batch}, {cfg.GiftRate, st.gifters, nil}} {
		if x.rate == 0 || len(x.pubs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Rate, c.PriorityRatio = x.rate, 0
			if x.batch != nil {
				x.batch.publish(ctx, c, t0, x.pubs)
				return
			}
			publishAll(ctx, c, t0, x.pubs)
		}()
	}
	wg.Wait()
}

// likeBatcher collects each liker's likes per room and sends them as one
// Send per window, carrying their count, as the SDKs batch taps (Like,
// like()): so a like storm costs the server far fewer frames.
type likeBatcher struct {
	mu      sync.Mutex
	pubs    []*loadgen.Publisher
	pending []map[int]uint32 // by liker: room (local index) -> likes
}

// addLiker registers a liker's connection and returns its index.
func (b *likeBatcher) addLiker(p *loadgen.Publisher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pubs = append(b.pubs, p)
	b.pending = append(b.pending, map[int]uint32{})
	return len(b.pubs) - 1
}

// add counts one like of liker i to its local room.
func (b *likeBatcher) add(i, local int) {
	b.mu.Lock()
	b.pending[i][local]++
	b.mu.Unlock()
}

// flush sends every liker's collected likes, one Send per room (more when
// above the server's bound of 1000 a Send).
func (b *likeBatcher) flush() {
	b.mu.Lock()
	type out struct {
		i, room int
		n       uint32
	}
	var outs []out
	for i, m := range b.pending {
		for room, n := range m {
			outs = append(outs, out{i, room, n})
		}
		clear(m)
	}
	b.mu.Unlock()
	for _, o := range outs {
		for n := o.n; n > 0; {
			k := min(n, loadgen.MaxLikeCount)
			_ = b.pubs[o.i].SendCount(o.room, "\u2764", "like", k)
			n -= k
		}
	}
}

// publish runs publishAll's schedule of cfg.Rate likes a second from t0
// for cfg.Duration over pubs (like g of the schedule is pubs[g %
// len(pubs)]'s, at t0 + g/Rate), batched: every cfg.LikeWindow it counts
// the likes that came due and flushes them, one Send per liker and room,
// and once more after the last. The Sends are the same as when each like
// waited for its own time; only the tool does not wake 20,000 times a
// second to count them. (That was not what the likers cost: a profile of
// a storm run put the tool's time in the likers' Sends and reads, their
// syscalls most of it.)
func (b *likeBatcher) publish(ctx context.Context, cfg Config, t0 time.Time, pubs []publisher) {
	end := t0.Add(cfg.Duration)
	t := time.NewTicker(cfg.LikeWindow)
	defer t.Stop()
	for g := 0; ; {
		var done bool
		g, done = scheduleDue(g, time.Now(), t0, end, cfg.Rate, pubs)
		b.flush()
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	waitUntil(ctx, end) // the window is the whole Duration, as in publishAll
}

// scheduleDue sends (to the batcher, through pubs' send) the likes of the
// schedule from like g on that are due at now, and returns the next one;
// done: the schedule has no more (the next is at or after end).
func scheduleDue(g int, now, t0, end time.Time, rate float64, pubs []publisher) (next int, done bool) {
	for ; ; g++ {
		at := t0.Add(time.Duration(float64(g) / rate * float64(time.Second)))
		if !at.Before(end) {
			return g, true
		}
		if at.After(now) {
			return g, false
		}
		pub := &pubs[g%len(pubs)]
		k := g / len(pubs)
		_ = pub.send(k%len(pub.rooms), false)
	}
}

// pending is how many likes and gifts await their answer.
func (st *storm) pending() int {
	n := 0
	for _, p := range st.pubs {
		n += p.Pending()
	}
	return n
}

func (st *storm) close() {
	st.closeOnce.Do(func() {
		if st.stop != nil {
			st.stop()
		}
		for _, p := range st.pubs {
			_ = p.Close()
		}
		st.readers.Wait()
	})
}

// report fills the storm section from the likers' answers and the
// workers' view summaries.
func (st *storm) report(cfg Config, views []*viewSummary, folded uint64, windowS float64) *Storm {
	if cfg.LikeRate == 0 && cfg.GiftRate == 0 && cfg.Capped == 0 {
		return nil
	}
	for _, v := range views {
		if v != nil && v.Likes != nil {
			st.likes.AddTally(*v.Likes) // likers from the viewers
		}
	}
	r := &Storm{
		LikeRatePerS: cfg.LikeRate, Likers: cfg.Likers, LikersFrom: cfg.LikersFrom,
		LikesSent: st.likes.Sent.Load(), LikeFrames: st.likes.Frames.Load(), LikeWindowMs: float64(cfg.LikeWindow.Milliseconds()),
		LikesAccepted:   st.likes.Accepted.Load(),
		LikesRefused:    st.likes.RateLimited.Load() + st.likes.ConnRateLimited.Load() + st.likes.Failed.Load(),
		LikeErrors:      st.likes.Errors(),
		LikesUnanswered: st.likes.Unanswered(),
		FoldedItems:     folded,
		GiftRatePerS:    cfg.GiftRate, Gifters: cfg.Gifters, GiftsSent: st.gifts.Sent.Load(),
		GiftsAccepted: st.gifts.PriorityAccepted.Load(),
		Capped:        cfg.Capped, CapRate: cfg.CapRate,
	}
	r.ViewerLikeTotalMin = math.MaxUint64
	r.UncappedLikeTotalMin, r.CappedLikeTotalMin = math.MaxUint64, math.MaxUint64
	r.CappedNormalMin, r.CappedPrioMin = math.MaxUint64, math.MaxUint64
	capped := 0
	for _, v := range views {
		if v == nil || v.Viewers == 0 {
			continue
		}
		r.ViewersReporting += v.Viewers
		r.ViewerLikeTotalMin = min(r.ViewerLikeTotalMin, v.LikeMin)
		r.ViewerLikeTotalMax = max(r.ViewerLikeTotalMax, v.LikeMax)
		r.ViewersAtAccepted += v.LikeCounts[r.LikesAccepted]
		if v.Viewers > v.Capped {
			r.UncappedLikeTotalMin = min(r.UncappedLikeTotalMin, v.UncappedLike[0])
		}
		if v.Capped > 0 {
			r.CappedLikeTotalMin = min(r.CappedLikeTotalMin, v.CappedLike[0])
		}
		if v.Capped > 0 {
			capped += v.Capped
			r.CappedNormalMin = min(r.CappedNormalMin, v.CappedNormal[0])
			r.CappedNormalMax = max(r.CappedNormalMax, v.CappedNormal[1])
			r.CappedPrioMin = min(r.CappedPrioMin, v.CappedPrio[0])
			r.CappedPrioMax = max(r.CappedPrioMax, v.CappedPrio[1])
		}
	}
	if r.ViewersReporting == 0 {
		r.ViewerLikeTotalMin = 0
	}
	if r.UncappedLikeTotalMin == math.MaxUint64 {
		r.UncappedLikeTotalMin = 0
	}
	if r.CappedLikeTotalMin == math.MaxUint64 {
		r.CappedLikeTotalMin = 0
	}
	if capped == 0 {
		r.CappedNormalMin, r.CappedPrioMin = 0, 0
	}
	r.Capped = capped
	if cfg.CapRate > 0 {
		r.AllowedNormal = round(float64(cfg.CapRate)*windowS+float64(cfg.CapRate), 1)
	}
	return r
}
