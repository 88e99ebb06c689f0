package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// startNode runs an embedded node on a free loopback port for an example
// and returns its WebSocket URL, a token minter and a stop function.
func startNode() (srv *server.Server, url string, mint func(user string, roles ...string) string, stop func()) {
	cfg := configs.Default()
	cfg.Gateway.Listen = "127.0.0.1:0"
	srv, err := server.New(cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	mint = func(user string, roles ...string) string {
		tok, err := srv.Keyring().Mint(user, roles, time.Hour, time.Now())
		if err != nil {
			log.Fatal(err)
		}
		return tok
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	}
	return srv, "ws://" + srv.Addr() + "/ws", mint, stop
}

// Connect, join a room, send, and receive what others send: the client
// answers notifications and pulls by itself and hands each message to
// OnMessage once.
func Example() {
	_, url, mint, stop := startNode()
	defer stop()
	ctx := context.Background()

	got := make(chan *pb.RoomMessage, 10)
	viewer, err := client.Dial(ctx, client.Options{
		URL:       url,
		Token:     mint("alice"),
		OnMessage: func(room string, m *pb.RoomMessage) { got <- m },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer viewer.Close()
	if _, err := viewer.Join(ctx, "lobby"); err != nil {
		log.Fatal(err)
	}

	sender, err := client.Dial(ctx, client.Options{URL: url, Token: mint("bob")})
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Join(ctx, "lobby"); err != nil {
		log.Fatal(err)
	}
	sent, err := sender.Send(ctx, "lobby", "hello", client.SendOptions{Kind: "text"})
	if err != nil {
		log.Fatal(err)
	}
	m := <-got
	fmt.Println("sent seq", sent.Seq)
	fmt.Printf("alice got %q from %s (seq %d, kind %s)\n", m.Body, m.From, m.Seq, m.Kind)
	// Output:
	// sent seq 1
	// alice got "hello" from bob (seq 1, kind text)
}

// One connection joins several rooms; OnMessage says which room each
// message belongs to. Priority messages (admin and system notices) have
// their own seq lane.
func ExampleClient_Join() {
	_, url, mint, stop := startNode()
	defer stop()
	ctx := context.Background()

	type delivery struct {
		room string
		m    *pb.RoomMessage
	}
	got := make(chan delivery, 10)
	c, err := client.Dial(ctx, client.Options{
		URL:       url,
		Token:     mint("alice"),
		OnMessage: func(room string, m *pb.RoomMessage) { got <- delivery{room, m} },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, room := range []string{"match-1", "match-2"} {
		if _, err := c.Join(ctx, room); err != nil {
			log.Fatal(err)
		}
	}
	admin, err := client.Dial(ctx, client.Options{URL: url, Token: mint("ops", "admin")})
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Join(ctx, "match-2"); err != nil {
		log.Fatal(err)
	}
	if _, err := admin.Send(ctx, "match-2", "half time", client.SendOptions{Priority: true}); err != nil {
		log.Fatal(err)
	}
	d := <-got
	fmt.Printf("%s: %s (priority %v, seq %d)\n", d.room, d.m.Body, d.m.Priority, d.m.Seq)
	// Output:
	// match-2: half time (priority true, seq 1)
}

// Errors from the server carry a stable code: branch on client.Code.
func ExampleCode() {
	srv, url, mint, stop := startNode()
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(ctx, client.Options{URL: url, Token: mint("troll")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "lobby"); err != nil {
		log.Fatal(err)
	}
	_ = srv.Rooms().Mute(context.Background(), "lobby", "troll", time.Minute) // what POST /api/v1/rooms/lobby/mutes does
	_, err = c.Send(ctx, "lobby", "spam", client.SendOptions{})
	switch client.Code(err) {
	case pb.Error_MUTED:
		fmt.Println("muted:", err)
	case pb.Error_RATE_LIMITED, pb.Error_CONN_RATE_LIMITED:
		fmt.Println("slow down")
	}
	// Output:
	// muted: roomcast: MUTED: room: muted
}

// When the connection breaks the client reconnects with backoff, fetching
// a fresh token with TokenFunc, and resumes every room from its last seq:
// messages posted meanwhile still arrive, once.
func ExampleOptions_reconnect() {
	srv, url, mint, stop := startNode()
	defer stop()
	ctx := context.Background()

	got := make(chan string, 10)
	up := make(chan bool, 10)
	c, err := client.Dial(ctx, client.Options{
		URL:        url,
		TokenFunc:  func(context.Context) (string, error) { return mint("alice"), nil },
		BackoffMin: 50 * time.Millisecond,
		OnMessage:  func(room string, m *pb.RoomMessage) { got <- m.Body },
		OnState:    func(connected bool, err error) { up <- connected },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "lobby"); err != nil {
		log.Fatal(err)
	}
	bob, err := client.Dial(ctx, client.Options{URL: url, Token: mint("bob")})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Join(ctx, "lobby"); err != nil {
		log.Fatal(err)
	}

	srv.Gateway().CloseUser("alice") // what POST /api/v1/users/alice/disconnect does
	fmt.Println("connected:", <-up)
	for _, body := range []string{"while you were away", "and another"} {
		if _, err := bob.Send(ctx, "lobby", body, client.SendOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("connected:", <-up)
	fmt.Println(<-got)
	fmt.Println(<-got)
	fmt.Println("reconnects:", c.Stats().Reconnects)
	// Output:
	// connected: false
	// connected: true
	// while you were away
	// and another
	// reconnects: 1
}
