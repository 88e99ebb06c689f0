package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// scrape fetches /metrics over HTTP and parses the text format.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t testing.TB, s *Server) scrape {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// get returns the value of name{labels} ("k=v,k=v"), failing when absent.
func (sc scrape) get(t testing.TB, name, labels string) float64 {
	t.Helper()
	mfs := make([]*dto.MetricFamily, 0, len(sc))
	for _, f := range sc {
		mfs = append(mfs, f)
	}
	v, ok := valueOf(mfs, name, labels)
	if !ok {
		t.Fatalf("metric %s{%s} not exported", name, labels)
	}
	return v
}

// TestMetricsMatchWhatHappened runs a scripted scenario and checks that the
// counters scraped from /metrics over HTTP equal what the clients saw and
// did: connections, joins, accepted and dropped messages by lane and
// reason, notifications, pulls, delivered and missed messages, the
// slow-consumer close and the queue bytes.
func TestMetricsMatchWhatHappened(t *testing.T) {
	s := adminNode(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.MaxFrameBytes = 4096
		c.Gateway.MaxQueueBytes = 64 << 10
		c.Fanout.PullBytes = 16 << 10
		c.Fanout.InlineBytes = 16 << 10 // what fits the 64 KiB queue
		c.Fanout.PullWindow = time.Minute
	})
	ctx := context.Background()
	adm := bearer("admin", token(t, s, "boss", "admin"))
	alice := dialViewer(t, s, "alice", client.Options{})
	bob := dialViewer(t, s, "bob", client.Options{})
	carol := dialRaw(t, s, wire.JSON, "")
	carol.connect(token(t, s, "carol"))
	for _, v := range []*viewer{alice, bob} {
		if _, err := v.Join(ctx, "m"); err != nil {
			t.Fatal(err)
		}
	}
	send := func(v *viewer, room string, n int, body string) (ok, limited, muted int) {
		t.Helper()
		for i := 0; i < n; i++ {
			_, err := v.Send(ctx, room, body, client.SendOptions{})
			switch client.Code(err) {
			case pb.Error_UNSPECIFIED:
				if err != nil {
					t.Fatal(err)
				}
				ok++
			case pb.Error_RATE_LIMITED:
				limited++
			case pb.Error_MUTED:
				muted++
			default:
				t.Fatal(err)
			}
		}
		return
	}
	// 5 normal messages, 1 notice, a muted send, a rate-limited send.
	send(alice, "m", 5, "hello")
	must(t, s, adm, "POST", "/api/v1/rooms/m/notices", map[string]any{"body": "notice"})
	must(t, s, adm, "POST", "/api/v1/rooms/m/mutes", map[string]any{"user": "bob"})
	if _, _, muted := send(bob, "m", 1, "shh"); muted != 1 {
		t.Fatal("bob's send was not refused as muted")
	}
	must(t, s, adm, "DELETE", "/api/v1/rooms/m/mutes/bob", nil)
	must(t, s, adm, "PUT", "/api/v1/rooms/m/limit", map[string]any{"rate": 0.001, "burst": 1})
	if ok, limited, _ := send(alice, "m", 2, "x"); ok != 1 || limited != 1 {
		t.Fatalf("limited room: %d accepted, %d limited", ok, limited)
	}
	must(t, s, adm, "DELETE", "/api/v1/rooms/m/limit", nil)
	// A ring of 4 and 10 more messages; carol then resumes from seq 0 and
	// is told she missed 12 of the 16.
	must(t, s, adm, "PUT", "/api/v1/rooms/m/ring", map[string]any{"size": 4})
	send(alice, "m", 10, "burst")
	caughtUp := func(v *viewer, room string, seq, pseq uint64) func() bool {
		return func() bool { a, p, _ := v.Cursors(room); return a == seq && p == pseq }
	}
	eventually(t, 10*time.Second, "alice and bob caught up", func() bool {
		return caughtUp(alice, "m", 16, 1)() && caughtUp(bob, "m", 16, 1)()
	})
	carol.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "m", Resume: true, AfterSeq: 0, AfterPseq: 1}}})
	nt := carol.await("notify", func(f *pb.Frame) bool { return f.GetNotify() != nil }).GetNotify()
	if nt.Missed != 12 || len(nt.Messages) != 4 {
		t.Fatalf("carol's notify: missed %d, %d messages", nt.Missed, len(nt.Messages))
	}
	carol.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "m", AfterSeq: nt.Seq, AfterPseq: nt.Pseq, Ack: true}}})

	// Checkpoint 1: the delivery counters equal the sums of what each
	// client received and sent (carol: 1 Notify with 4 messages and 12
	// missed, 1 ack).
	const carolNotifies, carolPulls, carolMsgs, carolMissed = 1, 1, 4, 12
	eventually(t, 10*time.Second, "delivery counters equal what clients saw", func() bool {
		sc := scrapeMetrics(t, s)
		a, b := alice.Stats(), bob.Stats()
		notifies := sc.get(t, "roomcast_fanout_notify_sent_total", "")
		pulls := sc.get(t, "roomcast_fanout_pulls_total", "kind=pull") + sc.get(t, "roomcast_fanout_pulls_total", "kind=ack")
		delivered := sc.get(t, "roomcast_fanout_messages_inline_total", "") + sc.get(t, "roomcast_fanout_messages_pulled_total", "")
		missed := sc.get(t, "roomcast_fanout_missed_total", "")
		want := []float64{
			float64(a.Notifies + b.Notifies + carolNotifies),
			float64(a.Pulls + b.Pulls + carolPulls),
			float64(a.Messages + a.Duplicates + b.Messages + b.Duplicates + carolMsgs),
			float64(a.Missed + b.Missed + carolMissed),
		}
		got := []float64{notifies, pulls, delivered, missed}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Logf("notifies, pulls, delivered, missed: server %v, clients %v", got, want)
			return false
		}
		return true
	})

	// A slow consumer: dave asks for the whole ring of "slow" again and
	// again and never reads; he is closed with reason slow_consumer.
	if _, err := alice.Join(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	dave := dialRaw(t, s, wire.Binary, "")
	dave.connect(token(t, s, "dave"))
	dave.join("slow")
	send(alice, "slow", 200, string(make([]byte, 4000)))
	// Pull after pull (each answer up to fanout.pull_bytes) until the
	// server gives up on him: how much the sockets absorb first depends on
	// the kernel, so there is no fixed count. Paced under the frame rate
	// limit, so only the queue bound can end it.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; s.Gateway().Conns() > 3 && time.Now().Before(deadline); i++ {
		data, _ := wire.Encode(wire.Binary, &pb.Frame{Id: uint32(100 + i), Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "slow"}}})
		if dave.ws.WriteMessage(websocket.BinaryMessage, data) != nil {
			break
		}
		if i >= 40 {
			time.Sleep(25 * time.Millisecond)
		}
	}
	eventually(t, 20*time.Second, "dave closed", func() bool { return s.Gateway().Conns() == 3 })
	eventually(t, 10*time.Second, "alice caught up in slow", caughtUp(alice, "slow", 200, 0))

	// Checkpoint 2: the exact counts of the script.
	eventually(t, 10*time.Second, "queues drained", func() bool {
		return scrapeMetrics(t, s).get(t, "roomcast_gateway_queue_bytes", "") == 0
	})
	sc := scrapeMetrics(t, s)
	exact := []struct {
		name, labels string
		want         float64
	}{
		{"roomcast_gateway_connections", "", 3}, // alice, bob, carol
		{"roomcast_gateway_connections_accepted_total", "", 4},
		{"roomcast_gateway_closes_total", "reason=slow_consumer", 1},
		{"roomcast_gateway_closes_total", "reason=protocol", 0},
		{"roomcast_room_joins_total", "", 5},  // alice m, bob m, carol m, alice slow, dave slow
		{"roomcast_room_leaves_total", "", 1}, // dave, by his close
		{"roomcast_room_messages_accepted_total", "lane=normal", 5 + 1 + 10 + 200},
		{"roomcast_room_messages_accepted_total", "lane=priority", 1},
		{"roomcast_room_messages_dropped_total", "reason=muted", 1},
		{"roomcast_room_messages_dropped_total", "reason=rate_limited", 1},
		{"roomcast_room_messages_dropped_total", "reason=banned", 0},
		{"roomcast_fanout_viewers", "", 4}, // alice m+slow, bob m, carol m
		{"roomcast_fanout_kicks_total", "reason=NOT_PULLING", 0},
		{"roomcast_fanout_room_messages_total", "", 5 + 1 + 10 + 200 + 1}, // both lanes
		{"roomcast_admin_notices_total", "", 1},
		{"roomcast_admin_requests_total", "route=POST /api/v1/rooms/{room}/notices,code=OK", 1},
		{"roomcast_room_rooms", "", 2},
	}
	for _, e := range exact {
		if got := sc.get(t, e.name, e.labels); got != e.want {
			t.Errorf("%s{%s} = %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	// Every client is on plain TCP: frames for idle connections went out
	// inline, without a writer goroutine (gateway/wsconn writeInline).
	if got := sc.get(t, "roomcast_gateway_inline_writes_total", "outcome=whole"); got == 0 {
		t.Errorf("roomcast_gateway_inline_writes_total{outcome=whole} = 0, want frames written inline")
	}
}
