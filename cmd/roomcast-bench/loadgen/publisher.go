package loadgen

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// PublisherConfig describes one publishing connection. Its token should
// carry the admin or system role when it sends priority messages.
type PublisherConfig struct {
	URL   string
	Token string
	// Rooms are joined (a connection sends only to rooms it joined); Send
	// names a room by its index here.
	Rooms     []string
	LocalAddr string
	JSON      bool
	// MaxRate is the Join.max_rate of its rooms (a liker that reads
	// little); 0: none.
	MaxRate int32
}

// PublishStats count what publishers sent and how the server answered.
// Every method is safe for concurrent use.
type PublishStats struct {
	Sent             atomic.Uint64 // messages sent (a Send of a batch of n likes counts n)
	Frames           atomic.Uint64 // Send frames written (a batch of likes is one)
	Accepted         atomic.Uint64 // messages answered Sent
	RateLimited      atomic.Uint64 // RATE_LIMITED: the room's upstream limit
	ConnRateLimited  atomic.Uint64 // CONN_RATE_LIMITED: the connection's own limits
	Failed           atomic.Uint64 // any other error
	PrioritySent     atomic.Uint64
	PriorityAccepted atomic.Uint64

	mu      sync.Mutex
	errs    map[string]uint64        // error code name -> count (bounded by the enum)
	rooms   map[string]*roomAccepted // by room id (the rooms of the run)
	unsent  atomic.Uint64            // Sends that were never answered (connection lost)
	rejoins atomic.Uint64            // rooms rejoined after a kick
}

type roomAccepted struct{ normal, priority uint64 }

// NewPublishStats returns empty stats.
func NewPublishStats() *PublishStats {
	return &PublishStats{errs: make(map[string]uint64), rooms: make(map[string]*roomAccepted)}
}

// Errors returns the error answers by code name (RATE_LIMITED, ...).
func (s *PublishStats) Errors() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errs)
}

// RoomAccepted returns how many normal and priority messages the server
// accepted for a room.
func (s *PublishStats) RoomAccepted(room string) (normal, priority uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[room]; r != nil {
		return r.normal, r.priority
	}
	return 0, 0
}

// Unanswered is how many sends got no answer before their connection ended.
func (s *PublishStats) Unanswered() uint64 { return s.unsent.Load() }

// Rejoins is how many times publishers rejoined a room after a kick.
func (s *PublishStats) Rejoins() uint64 { return s.rejoins.Load() }

// Accept counts one accepted message (publishers call it for every Sent;
// in-process publishers may call it directly).
func (s *PublishStats) Accept(room string, priority bool) { s.acceptN(room, priority, 1) }

// acceptN counts n accepted messages (one Send of a batch of n likes).
func (s *PublishStats) acceptN(room string, priority bool, n uint64) {
	s.Accepted.Add(n)
	if priority {
		s.PriorityAccepted.Add(n)
	}
	s.mu.Lock()
	r := s.rooms[room]
	if r == nil {
		r = &roomAccepted{}
		s.rooms[room] = r
	}
	if priority {
		r.priority += n
	} else {
		r.normal += n
	}
	s.mu.Unlock()
}

// CountSent counts one message sent (in-process publishers).
func (s *PublishStats) CountSent(priority bool) { s.countSentN(priority, 1) }

// countSentN counts one Send frame standing for n messages.
func (s *PublishStats) countSentN(priority bool, n uint64) {
	s.Frames.Add(1)
	s.Sent.Add(n)
	if priority {
		s.PrioritySent.Add(n)
	}
}

// Refuse counts one refused message by its error code.
func (s *PublishStats) Refuse(code pb.Error_Code) { s.refuseN(code, 1) }

// refuseN counts n refused messages (one Send of a batch of n likes).
func (s *PublishStats) refuseN(code pb.Error_Code, n uint64) {
	switch code {
	case pb.Error_RATE_LIMITED:
		s.RateLimited.Add(n)
	case pb.Error_CONN_RATE_LIMITED:
		s.ConnRateLimited.Add(n)
	default:
		s.Failed.Add(n)
	}
	s.mu.Lock()
	s.errs[code.String()] += n
	s.mu.Unlock()
}

// RefuseNamed counts one refused message under an error name of another
// server (e.g. "http_503", "api_102"), as another error.
func (s *PublishStats) RefuseNamed(name string) {
	s.Failed.Add(1)
	s.mu.Lock()
	s.errs[name]++
	s.mu.Unlock()
}

// Publisher is one connection that sends room messages. It is also a
// viewer of the rooms it joined (the server notifies it like anyone), and
// acknowledges like one so it is never kicked for not pulling.
type Publisher struct {
	v     *Viewer
	stats *PublishStats
	rooms []string

	mu      sync.Mutex
	pending map[uint32]pendingSend
	next    uint32
	done    bool
	joining map[uint32]rejoinReq // rejoin request id -> room
	// rejoinSeq numbers rejoin requests (from the reader and from retry
	// timers).
	rejoinSeq atomic.Uint32
}

type pendingSend struct {
	room     int
	priority bool
	n        uint64 // messages the Send stands for (a batch of likes)
}

// ErrPublisherClosed is returned by Send after the connection ended.
var ErrPublisherClosed = errors.New("loadgen: publisher closed")

// DialPublisher connects, authenticates and joins cfg.Rooms. What the
// publisher receives as a viewer is counted in vstats.
func DialPublisher(ctx context.Context, cfg PublisherConfig, stats *PublishStats, vstats *Stats) (*Publisher, error) {
	v, err := Dial(ctx, ViewerConfig{URL: cfg.URL, Token: cfg.Token, Rooms: cfg.Rooms, LocalAddr: cfg.LocalAddr, JSON: cfg.JSON, MaxRate: cfg.MaxRate}, vstats)
	if err != nil {
		return nil, err
	}
	return &Publisher{v: v, stats: stats, rooms: cfg.Rooms, pending: make(map[uint32]pendingSend), next: v.id}, nil
}

// Send posts body to the room with index room (of PublisherConfig.Rooms)
// without waiting for the answer, which Run counts. Safe for concurrent
// use with Run.
func (p *Publisher) Send(room int, body string, priority bool) error {
	return p.SendKind(room, body, "", priority)
}

// SendKind is Send with a message kind ("like", "gift": storm traffic).
// The answer's priority flag (a gift the server put in the priority lane)
// decides how it is counted.
func (p *Publisher) SendKind(room int, body, kind string, priority bool) error {
	return p.send(room, &pb.Send{Body: body, Kind: kind, Priority: priority})
}

// SendCount sends one Send standing for n messages of a folded kind (a
// batch of likes, Send.count; at most 1000), counted as n in the stats.
func (p *Publisher) SendCount(room int, body, kind string, n uint32) error {
	return p.send(room, &pb.Send{Body: body, Kind: kind, Count: n})
}

func (p *Publisher) send(room int, sd *pb.Send) error {
	priority := sd.Priority
	n := uint64(max(sd.Count, 1))
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return ErrPublisherClosed
	}
	p.next++
	id := p.next
	p.pending[id] = pendingSend{room: room, priority: priority, n: n}
	p.mu.Unlock()
	p.stats.countSentN(priority, n)
	sd.Room = p.rooms[room]
	f := &pb.Frame{Id: id, Body: &pb.Frame_Send{Send: sd}}
	if err := p.v.write(f); err != nil {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		p.stats.unsent.Add(n)
		return err
	}
	return nil
}

// Pending is how many sends await their answer.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Run reads answers and notifications until the connection ends or ctx is
// cancelled. Sends still unanswered then are counted as unanswered.
func (p *Publisher) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = p.v.c.Close() })
	defer stop()
	defer p.finish()
	for {
		bin, data, err := p.v.readRaw()
		var f *pb.Frame
		if err == nil {
			// The room's traffic is acted on without decoding it.
			var handled bool
			if handled, err = p.v.roomTraffic(bin, data); handled && err == nil {
				continue
			}
			if err == nil {
				f, err = p.v.decode(bin, data)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.v.stats.recordClose(wspoll.CloseCode(err), err)
			return err
		}
		if f.Id >= rejoinIDs {
			p.mu.Lock()
			room := p.joining[f.Id].room
			delete(p.joining, f.Id)
			p.mu.Unlock()
			if f.GetError() != nil && room != "" {
				// The node could not take the join now (overloaded
				// store, room moving): try again shortly.
				time.AfterFunc(200*time.Millisecond, func() { p.rejoin(room) })
				continue
			}
			// The answer to a rejoin after a kick: follow the room from its
			// head (a publisher does not care what it missed meanwhile).
			if j := f.GetJoined(); j != nil {
				if c := p.v.cursorOf([]byte(j.Room)); c != nil {
					c.seq, c.pseq, c.pulling = j.Seq, j.Pseq, 0
				}
			}
			continue
		}
		if k := f.GetKick(); k != nil && k.Room != "" {
			// Kicked (a publisher that fell behind on reading while the
			// machine was saturated): rejoin, so publishing goes on.
			p.v.handle(f)
			p.stats.rejoins.Add(1)
			p.rejoin(k.Room)
			continue
		}
		if f.Id != 0 {
			p.mu.Lock()
			ps, ok := p.pending[f.Id]
			delete(p.pending, f.Id)
			p.mu.Unlock()
			if ok {
				if e := f.GetError(); e != nil {
					p.stats.refuseN(e.Code, ps.n)
					if e.Code == pb.Error_ROOM_NOT_JOINED && !p.rejoining(p.rooms[ps.room]) {
						// A kick whose rejoin was lost: join again.
						p.stats.rejoins.Add(1)
						p.rejoin(p.rooms[ps.room])
					}
				} else {
					p.stats.acceptN(p.rooms[ps.room], f.GetSent().GetPriority(), ps.n)
				}
				continue
			}
		}
		p.v.handle(f)
	}
}

// rejoin sends a Join for room with the next rejoin request id. Called
// from the reader goroutine, or from a timer after a refused rejoin (the
// id counter is atomic for that case).
func (p *Publisher) rejoin(room string) {
	id := rejoinIDs + p.rejoinSeq.Add(1)
	p.mu.Lock()
	if p.joining == nil {
		p.joining = map[uint32]rejoinReq{}
	}
	p.joining[id] = rejoinReq{room: room, at: time.Now()}
	p.mu.Unlock()
	_ = p.v.write(&pb.Frame{Id: id, Body: &pb.Frame_Join{Join: &pb.Join{Room: room}}})
}

// rejoining reports whether a rejoin of room is in flight.
func (p *Publisher) rejoining(room string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range p.joining {
		if time.Since(r.at) > rejoinTimeout {
			delete(p.joining, id) // its answer is lost: allow another
			continue
		}
		if r.room == room {
			return true
		}
	}
	return false
}

// rejoinReq is a rejoin in flight.
type rejoinReq struct {
	room string
	at   time.Time
}

// rejoinTimeout is how long a rejoin may go unanswered before another is
// sent.
const rejoinTimeout = 5 * time.Second

// rejoinIDs is where the request ids of rejoins start (sends count up from 1).
const rejoinIDs = 1 << 31

func (p *Publisher) finish() {
	p.mu.Lock()
	p.done = true
	var n uint64
	for _, ps := range p.pending {
		n += ps.n
	}
	clear(p.pending)
	p.mu.Unlock()
	p.stats.unsent.Add(n)
}

// Close closes the connection; Run returns.
func (p *Publisher) Close() error { return p.v.Close() }
