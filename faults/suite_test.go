package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/internal/zk"
	"github.com/roomcast/roomcast/localcluster"
	"github.com/roomcast/roomcast/offline"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

const (
	apiKey    = "faults-api-key-0123456789"
	keyPrefix = "t:"
	ringSize  = 64 // small, so a viewer kept away long enough misses messages
	group     = "faults"
	groupConv = "g:" + group
	// pagerPad pads the pager's messages, so that a page of five is a
	// frame of about 10 KB that the suite can cut in transit.
	pagerPad = 2000
)

// suite is the cluster under test and everything the clients did.
type suite struct {
	t    *testing.T
	env  nodetest.Env
	ps   []*nodetest.Proc // n1, n2, n3
	view placement.View
	rdb  redis.UniversalClient // for the faults and the checks; reconnects by itself
	// rc, when set, is the Redis Cluster the nodes use instead of
	// env.Redis (rediscluster_test.go).
	rc *testenv.RedisCluster
	zk *zk.Conn // the suite's own session, to read who is registered
	// zkProxy is n3's link to ZooKeeper, which the suite cuts.
	zkProxy *nodetest.Proxy
	started map[string]time.Time // node -> when its current process started

	// Rooms: limited is owned by n1 (never faulted) and rate limited;
	// paused by n2 (SIGSTOPped); killed by n3 (kill -9, ZooKeeper link
	// cut).
	limited, paused, killed string
	rooms                   []string

	wire        *wireLog           // what the room clients received, before the SDK's dedupe
	roomClients []*nodetest.Viewer // every client that joins a room
	// stale is a user of n2 who sends to the paused room while n2 is
	// stopped: its sends wait in n2's socket and meet the self-fence.
	stale    *nodetest.Viewer
	staleLog *sendLog
	probes   int // users dialed to see where a node's users went

	tr       *traffic
	normal   map[string]*sendLog // room -> normal sends
	priority map[string]*sendLog // room -> priority sends

	viewers []*nodetest.Viewer // watch every room; spread over the nodes
	lagger  *nodetest.Viewer   // a viewer too, kept away past the ring
	lagLink *nodetest.Link
	joined  map[*nodetest.Viewer]map[string]*pb.Joined

	direct       []*pair
	directLogs   convLogs
	directFailed *sendLog // sends that never got an ack (by the last code)
	members      []*nodetest.Viewer
	groupLogs    convLogs
	groupFailed  *sendLog
	offErrors    errorCounts // Error frames received by the 1:1 and group clients
	traces       map[string]*frameTrace

	pagerSender *nodetest.Viewer
	pagers      []*pager
	pagerTarget chan string // the user the pager sender writes to now (buffered 1)

	trolls []*troll

	// shadow is shadow-banned in the killed room and sends there;
	// shadowLog has its acks (checkShadow).
	shadow    *nodetest.Viewer
	shadowLog *sendLog

	mu       sync.Mutex
	recovery []recoveryRecord
	notes    []string
}

// pair is a 1:1 stream: from sends to to.
type pair struct {
	from, to *nodetest.Viewer
	conv     string
}

// pager is a user who was offline while messages piled up, then pages
// through them with its connection dropped between pages and pages cut
// in transit.
type pager struct {
	v           *nodetest.Viewer
	link        *nodetest.Link
	conv        string
	pages       int
	drops       int // connections dropped between pages
	cuts        int // pages cut in transit
	redelivered int // ... and delivered again, whole, by the next pull
}

func (s *suite) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
	s.t.Logf(format, args...)
}

// nodeConfig is a fault-suite node: small rings, priority queues that
// never evict in a soak, an API key for the admin API.
func (s *suite) nodeConfig(id string, port int) configs.Config {
	return s.env.NodeConfig(s.t, id, port, func(c *configs.Config) {
		c.Fanout.RingSize = ringSize
		c.Fanout.PriorityMaxItems = 100000
		c.Fanout.PriorityMaxBytes = 64 << 20
		c.Fanout.PriorityMaxAge = 24 * time.Hour
		c.Admin.APIKeys = []string{apiKey}
		if s.rc != nil {
			c.Redis.Addrs = s.rc.Addrs
		}
		if shipped() {
			d := configs.Default().WithDefaults().Cluster
			c.Cluster.SessionTimeout, c.Cluster.AnnounceInterval, c.Cluster.RPCTimeout = d.SessionTimeout, d.AnnounceInterval, d.RPCTimeout
		}
	})
}

// startEnv is ZooKeeper and Redis: with -shipped, ZooKeeper ticks as the
// local cluster's (localcluster.TickTime), so a 6s session is granted.
func startEnv(t *testing.T) nodetest.Env {
	if shipped() {
		return nodetest.StartEnvTick(t, localcluster.TickTime)
	}
	return nodetest.StartEnv(t)
}

// startCluster starts ZooKeeper, Redis and three node processes.
func startCluster(t *testing.T) *suite { return startClusterOn(t, nil) }

// startClusterOn is startCluster with the nodes on rc, a Redis Cluster,
// when it is not nil.
func startClusterOn(t *testing.T, rc *testenv.RedisCluster) *suite {
	s := &suite{t: t, env: startEnv(t), view: nodetest.View(3), started: map[string]time.Time{},
		normal: map[string]*sendLog{}, priority: map[string]*sendLog{}, joined: map[*nodetest.Viewer]map[string]*pb.Joined{},
		directFailed: newSendLog(), groupFailed: newSendLog(), pagerTarget: make(chan string, 1), traces: map[string]*frameTrace{},
		staleLog: newSendLog(), rc: rc}
	if rc != nil {
		s.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs, MaxRetries: -1})
	} else {
		s.rdb = redis.NewClient(&redis.Options{Addr: s.env.Redis.Addr, MaxRetries: -1})
	}
	t.Cleanup(func() { _ = s.rdb.Close() })
	conn, _, err := zk.Connect([]string{s.env.ZK.Addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quietZK{}))
	if err != nil {
		t.Fatal(err)
	}
	s.zk = conn
	t.Cleanup(conn.Close)
	s.zkProxy = nodetest.StartProxy(t, s.env.ZK.Addr)
	ports := nodetest.FreePorts(t, 3)
	addrs := map[string]string{}
	for i, port := range ports {
		id := fmt.Sprintf("n%d", i+1)
		cfg := s.nodeConfig(id, port)
		if id == "n3" {
			cfg.Cluster.Zookeeper = []string{s.zkProxy.Addr()}
		}
		addrs[cfg.Gateway.Listen] = id
		s.started[id] = time.Now()
		s.ps = append(s.ps, nodetest.StartProc(t, cfg))
	}
	s.wire = newWireLog(addrs)
	s.limited = nodetest.RoomOwnedBy(s.view, "n1", "limited")
	s.paused = nodetest.RoomOwnedBy(s.view, "n2", "paused")
	s.killed = nodetest.RoomOwnedBy(s.view, "n3", "killed")
	s.rooms = []string{s.limited, s.paused, s.killed}
	for _, r := range s.rooms {
		s.normal[r], s.priority[r] = newSendLog(), newSendLog()
	}
	return s
}

// seed is the URL every client starts from: n1, which no fault stops, so
// a client whose node died finds its new owner through it.
func (s *suite) seed() string { return s.ps[0].URL() }

// user returns the i-th user id with prefix that lives on node id.
func (s *suite) user(id, prefix string, i int) string {
	return nodetest.UsersOn(s.view, id, prefix, i+1)[i]
}

func (s *suite) dial(user string, opt client.Options, roles ...string) *nodetest.Viewer {
	return nodetest.DialWith(s.t, s.seed(), user, opt, roles...)
}

// roomClient dials a user who joins rooms: what it receives is recorded
// in the wire log.
func (s *suite) roomClient(user string, opt client.Options, roles ...string) *nodetest.Viewer {
	v := s.dial(user, s.wire.wrap(user, opt), roles...)
	s.roomClients = append(s.roomClients, v)
	return v
}

// quietZK keeps the suite's ZooKeeper client quiet.
type quietZK struct{}

func (quietZK) Printf(string, ...any) {}

// offlineClient dials a 1:1 or group user whose Error frames are counted.
func (s *suite) offlineClient(user string, opt client.Options) *nodetest.Viewer {
	ft := &frameTrace{}
	s.traces[user] = ft
	opt.OnFrame = func(f *pb.Frame) {
		s.offErrors.onFrame(f)
		ft.onFrame(f)
	}
	return s.dial(user, opt)
}

func (s *suite) join(v *nodetest.Viewer, rooms ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range rooms {
		j, err := v.Join(ctx, r)
		if err != nil {
			s.t.Fatalf("%s joins %s: %v", v.User, r, err)
		}
		if s.joined[v] == nil {
			s.joined[v] = map[string]*pb.Joined{}
		}
		s.joined[v][r] = j
	}
}

// admin calls the admin API of n1 with the API key and decodes the answer.
func (s *suite) admin(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.ps[0].Addr()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (s *suite) mustAdmin(method, path string, body any) {
	s.t.Helper()
	if err := s.admin(method, path, body, nil); err != nil {
		s.t.Fatal(err)
	}
}

// roomStore and offlineStore read what the cluster stored in Redis.
func (s *suite) roomStore() *room.RedisStore {
	return room.NewRedisStore(s.rdb, keyPrefix, room.StoreConfig{Keep: ringSize, KeepPriority: 100000})
}

func (s *suite) offlineStore() *offline.RedisStore {
	st, err := offline.NewRedisStore(s.rdb, keyPrefix)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// setUp connects every client and starts the traffic:
//
//   - 3 viewers per node and a lagger watch the three rooms;
//   - one sender per room (on n1) sends normal messages: 50/s to the
//     limited room (limit 20/s, so most are refused RATE_LIMITED), 25/s to
//     the others; an admin sends priority notices to each room, 5/s;
//   - three 1:1 streams (10/s each) between users of different nodes;
//   - a group of 6 members (2 per node), 3 of them sending (7/s each);
//   - a sender writing (20/s, 2 KB each) to the next pager, who is
//     offline;
//   - one troll per node, muted in the paused room and banned from the
//     killed one, trying to send and to join;
//   - a user shadow-banned in the killed room sending there (5/s): acked
//     like anyone, seen by itself only, missed by everyone else;
//   - a user of n2 in the paused room who sends only while n2 is stopped.
func (s *suite) setUp() {
	t := s.t
	for _, id := range []string{"n1", "n2", "n3"} {
		for i := range 3 {
			v := s.roomClient(s.user(id, "viewer-"+id, i), client.Options{})
			s.join(v, s.rooms...)
			s.viewers = append(s.viewers, v)
		}
	}
	landed := map[string]int{}
	for _, v := range s.viewers {
		landed[v.URL()]++
	}
	if len(landed) != 3 {
		t.Fatalf("viewers landed on %d nodes, want 3: %v", len(landed), landed)
	}
	s.lagLink = nodetest.NewLink()
	s.lagger = s.roomClient(s.user("n1", "lagger", 0), client.Options{Dialer: s.lagLink.Dialer()})
	s.join(s.lagger, s.rooms...)

	// Moderation first, then the trolls arrive.
	for _, id := range []string{"n1", "n2", "n3"} {
		u := s.user(id, "troll-"+id, 0)
		s.mustAdmin("POST", "/api/v1/rooms/"+s.paused+"/mutes", map[string]any{"user": u})
		s.mustAdmin("POST", "/api/v1/rooms/"+s.killed+"/bans", map[string]any{"user": u})
		tl := &troll{v: s.roomClient(u, client.Options{})}
		s.join(tl.v, s.paused)
		s.trolls = append(s.trolls, tl)
	}
	s.mustAdmin("PUT", "/api/v1/rooms/"+s.limited+"/limit", map[string]any{"rate": 20, "burst": 5})
	su := s.user("n1", "shadowed", 0)
	s.mustAdmin("POST", "/api/v1/rooms/"+s.killed+"/shadowbans", map[string]any{"user": su})
	s.shadow, s.shadowLog = s.roomClient(su, client.Options{}), newSendLog()
	s.join(s.shadow, s.killed)

	// 1:1 streams between nodes, and the group.
	for _, p := range [][2]string{{"n1", "n2"}, {"n2", "n3"}, {"n3", "n1"}} {
		pr := &pair{from: s.offlineClient(s.user(p[0], "dm-from-"+p[0], 0), client.Options{}),
			to: s.offlineClient(s.user(p[1], "dm-to-"+p[1], 0), client.Options{})}
		ctx, cancel := sendCtx()
		sent, err := pr.from.SendDirect(ctx, pr.to.User, "hello", client.SendOfflineOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		pr.conv = sent.Conv
		s.directLogs.get(sent.Conv).ack(sent.Seq, sent.MsgId)
		s.direct = append(s.direct, pr)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		for i := range 2 {
			s.members = append(s.members, s.offlineClient(s.user(id, "member-"+id, i), client.Options{}))
		}
	}
	var others []string
	for _, m := range s.members[1:] {
		others = append(others, m.User)
	}
	ctx, cancel := sendCtx()
	if _, err := s.members[0].CreateGroup(ctx, group, "fault suite", others...); err != nil {
		t.Fatal(err)
	}
	cancel()
	s.pagerSender = s.offlineClient(s.user("n2", "pager-sender", 0), client.Options{})
	s.pagerTarget <- s.user("n1", "pager", 0)

	// Traffic.
	s.tr = newTraffic()
	senders := map[string]*nodetest.Viewer{}
	for _, r := range s.rooms {
		senders[r] = s.roomClient(s.user("n1", "sender-"+r, 0), client.Options{})
		s.join(senders[r], r)
	}
	boss := s.roomClient(s.user("n1", "boss", 0), client.Options{}, "admin")
	s.join(boss, s.rooms...)
	s.stale = s.roomClient(s.user("n2", "stale", 0), client.Options{})
	s.join(s.stale, s.paused)
	s.tr.roomPump(senders[s.limited], s.limited, 20*time.Millisecond, false, s.normal[s.limited])
	s.tr.roomPump(senders[s.paused], s.paused, 40*time.Millisecond, false, s.normal[s.paused])
	s.tr.roomPump(senders[s.killed], s.killed, 40*time.Millisecond, false, s.normal[s.killed])
	for _, r := range s.rooms {
		s.tr.roomPump(boss, r, 200*time.Millisecond, true, s.priority[r])
	}
	for _, pr := range s.direct {
		to := pr.to.User
		s.tr.directPump(pr.from, func() string { return to }, 100*time.Millisecond, 0, &s.directLogs, s.directFailed)
	}
	for i := 0; i < len(s.members); i += 2 {
		s.tr.groupPump(s.members[i], group, 150*time.Millisecond, &s.groupLogs, s.groupFailed)
	}
	s.tr.directPump(s.pagerSender, func() string {
		u := <-s.pagerTarget
		s.pagerTarget <- u
		return u
	}, 50*time.Millisecond, pagerPad, &s.directLogs, s.directFailed)
	for _, tl := range s.trolls {
		s.tr.trollPump(tl, s.paused, s.killed)
	}
	s.tr.roomPump(s.shadow, s.killed, 200*time.Millisecond, false, s.shadowLog)
}
