package server

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// typist is a person at a JSON WebSocket prompt.
type typist struct {
	t    *testing.T
	name string
	ws   *websocket.Conn
	log  *strings.Builder
}

func newTypist(t *testing.T, s *Server, name string, log *strings.Builder) *typist {
	ws, _, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &typist{t: t, name: name, ws: ws, log: log}
}

func (p *typist) say(text string) {
	p.t.Helper()
	fmt.Fprintf(p.log, "%s > %s\n", p.name, text)
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		p.t.Fatal(err)
	}
}

// hear reads the next frame; it must be JSON and match.
func (p *typist) hear(what string, match func(*pb.Frame) bool) *pb.Frame {
	p.t.Helper()
	_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := p.ws.ReadMessage()
	if err != nil {
		p.t.Fatalf("%s waiting for %s: %v", p.name, what, err)
	}
	fmt.Fprintf(p.log, "%s < %s\n", p.name, data)
	if mt != websocket.TextMessage {
		p.t.Fatalf("%s: binary answer to JSON", p.name)
	}
	f, err := wire.Decode(wire.JSON, data)
	if err != nil || !match(f) {
		p.t.Fatalf("%s: got %s, want %s (%v)", p.name, data, what, err)
	}
	return f
}

// TestOfflineJSONSessionByHand types the worked session of docs/offline.md
// (RC_PRINT_SESSION=1 prints the transcript).
func TestOfflineJSONSessionByHand(t *testing.T) {
	s := startServer(t, nil)
	var log strings.Builder
	defer func() {
		if os.Getenv("RC_PRINT_SESSION") != "" {
			fmt.Print(log.String())
		}
	}()
	alice, bob := newTypist(t, s, "alice", &log), newTypist(t, s, "bob", &log)
	const dm = "d:alice|bob"

	alice.say(`{"id":1,"connect":{"token":"` + token(t, s, "alice") + `"}}`)
	alice.hear("connected", func(f *pb.Frame) bool { return f.Id == 1 && f.GetConnected() != nil })
	alice.say(`{"id":2,"sendDirect":{"to":"bob","body":"are you there?","clientMsgId":"a-1"}}`)
	first := alice.hear("own message", func(f *pb.Frame) bool { return f.GetConvMessage().GetSeq() == 1 })
	alice.hear("sent", func(f *pb.Frame) bool {
		return f.Id == 2 && f.GetConvSent().GetConv() == dm && f.GetConvSent().GetSeq() == 1 && !f.GetConvSent().GetDuplicate()
	})
	// The answer was lost? Resend: the same message, stored once.
	alice.say(`{"id":3,"sendDirect":{"to":"bob","body":"are you there?","clientMsgId":"a-1"}}`)
	alice.hear("own message again", func(f *pb.Frame) bool { return f.GetConvMessage().GetMsgId() == first.GetConvMessage().GetMsgId() })
	alice.hear("duplicate", func(f *pb.Frame) bool {
		return f.Id == 3 && f.GetConvSent().GetSeq() == 1 && f.GetConvSent().GetDuplicate() && f.GetConvSent().GetMsgId() == first.GetConvMessage().GetMsgId()
	})
	alice.say(`{"id":4,"sendDirect":{"to":"bob","body":"call me","clientMsgId":"a-2"}}`)
	alice.hear("own message", func(f *pb.Frame) bool { return f.GetConvMessage().GetSeq() == 2 })
	alice.hear("sent", func(f *pb.Frame) bool { return f.Id == 4 && f.GetConvSent().GetSeq() == 2 })

	// Bob logs in: counters, not messages.
	bob.say(`{"id":1,"connect":{"token":"` + token(t, s, "bob") + `"}}`)
	bob.hear("connected", func(f *pb.Frame) bool { return f.Id == 1 && f.GetConnected() != nil })
	bob.hear("counters", func(f *pb.Frame) bool {
		c := f.GetCounters()
		return f.Id == 0 && len(c.GetConvs()) == 1 && c.Convs[0].Conv == dm && c.Convs[0].Unread == 2 && len(c.Convs[0].Last) == 2 && c.NoMore
	})
	bob.say(`{"id":2,"pullConv":{"conv":"d:alice|bob","after":0,"limit":1}}`)
	bob.hear("page 1", func(f *pb.Frame) bool {
		p := f.GetConvPage()
		return f.Id == 2 && len(p.GetMessages()) == 1 && p.Messages[0].Body == "are you there?" && p.NextCursor == 1 && !p.NoMore
	})
	bob.say(`{"id":3,"pullConv":{"conv":"d:alice|bob","after":1}}`)
	bob.hear("page 2", func(f *pb.Frame) bool {
		p := f.GetConvPage()
		return f.Id == 3 && len(p.GetMessages()) == 1 && p.Messages[0].Body == "call me" && p.NextCursor == 2 && p.NoMore
	})
	bob.say(`{"id":4,"pullConv":{"conv":"d:alice|bob","after":2}}`)
	bob.hear("final empty page", func(f *pb.Frame) bool {
		p := f.GetConvPage()
		return f.Id == 4 && len(p.GetMessages()) == 0 && p.NoMore && p.NextCursor == 2
	})
	bob.say(`{"id":5,"ack":{"conv":"d:alice|bob","read":2}}`)
	bob.hear("acked", func(f *pb.Frame) bool {
		a := f.GetAcked()
		return f.Id == 5 && a.GetRead() == 2 && a.GetReceived() == 2
	})
	alice.hear("read receipt", func(f *pb.Frame) bool { r := f.GetReceipt(); return r.GetUser() == "bob" && r.GetRead() == 2 })

	// A group, a live message, a recall that travels in the stream.
	alice.say(`{"id":5,"createGroup":{"group":"book-club","name":"Book club","members":["bob"]}}`)
	alice.hear("group", func(f *pb.Frame) bool { return f.Id == 5 && f.GetGroupInfo().GetMembers() == 2 })
	alice.say(`{"id":6,"sendGroup":{"group":"book-club","body":"chapter 3 tonight","clientMsgId":"a-3"}}`)
	alice.hear("own group message", func(f *pb.Frame) bool { return f.GetConvMessage().GetConv() == "g:book-club" })
	alice.hear("sent", func(f *pb.Frame) bool { return f.Id == 6 && f.GetConvSent().GetSeq() == 1 })
	bob.hear("live group message", func(f *pb.Frame) bool {
		m := f.GetConvMessage()
		return f.Id == 0 && m.GetConv() == "g:book-club" && m.GetBody() == "chapter 3 tonight"
	})
	bob.say(`{"id":6,"ack":{"conv":"g:book-club","received":1}}`)
	bob.hear("acked", func(f *pb.Frame) bool {
		return f.Id == 6 && f.GetAcked().GetReceived() == 1 && f.GetAcked().GetUnread() == 1
	})
	alice.say(`{"id":7,"recall":{"conv":"g:book-club","seq":1}}`)
	alice.hear("own recall", func(f *pb.Frame) bool { return f.GetConvMessage().GetRecallOf() == 1 })
	alice.hear("recalled", func(f *pb.Frame) bool { return f.Id == 7 && f.GetRecalled().GetRecallSeq() == 2 })
	bob.hear("recall entry", func(f *pb.Frame) bool {
		m := f.GetConvMessage()
		return m.GetSeq() == 2 && m.GetRecallOf() == 1 && m.GetKind() == "recall"
	})
	bob.say(`{"id":7,"history":{"conv":"g:book-club"}}`)
	bob.hear("history", func(f *pb.Frame) bool {
		h := f.GetHistoryPage()
		return f.Id == 7 && len(h.GetMessages()) == 2 && h.Messages[0].Recalled && h.Messages[0].Body == "" && h.NoMore
	})
	bob.say(`{"id":8,"pullConv":{"conv":"d:alice|carol"}}`)
	bob.hear("not a member", func(f *pb.Frame) bool { return f.Id == 8 && f.GetError().GetCode() == pb.Error_NOT_MEMBER })
	bob.say(`{"id":9,"pullConv":{"conv":"d:alice|bob","after":5}}`)
	bob.hear("cursor ahead", func(f *pb.Frame) bool { return f.Id == 9 && f.GetError().GetCode() == pb.Error_CURSOR_AHEAD })
}
