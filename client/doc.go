// Package client is the Go SDK for roomcast.
//
// A Client holds one WebSocket connection (binary protobuf frames by
// default, JSON on request), authenticates with a token, joins rooms, sends
// messages and does the pull side of the protocol by itself: on a Notify it
// takes the inline messages; a complete Notify needs no answer, otherwise
// it acknowledges (the inline messages caught it up) or pulls what is
// waiting; it pulls again while the server says there is more; it dedupes
// by msg_id and
// hands each message to OnMessage once, in seq order per lane. When the
// connection breaks it reconnects with exponential backoff and resumes
// every room from its last seq, so nothing the server's ring still holds is
// lost (what it no longer holds is reported through OnMissed, priority
// messages that expired before it pulled through OnMissedPriority). A
// draining node (a restart) asks it to wait first: Kick SHUTDOWN with
// reconnect_after_ms, honoured with jitter and not counted as a failure
// (client/drain.go, ErrNodeDraining).
//
//	c, err := client.Dial(ctx, client.Options{
//		URL:   "ws://127.0.0.1:8080/ws",
//		Token: token,
//		OnMessage: func(room string, m *roomcastpb.RoomMessage) {
//			fmt.Println(room, m.From, m.Body)
//		},
//	})
//	if err != nil { ... }
//	defer c.Close()
//	if _, err := c.Join(ctx, "lobby"); err != nil { ... }
//	_, err = c.Send(ctx, "lobby", "hello", client.SendOptions{})
//
// 1:1 and group messages (client/offline.go): the server pushes Counters
// after each connect (OnCounters), live messages as they are sent
// (OnMessage, acknowledged in batches); the app pulls conversations on
// demand (PullConv, SyncConv, PullAll), and the client dedupes by msg_id
// (plus OfflineOptions.Seen, the app's own store, across crashes). Sends
// (SendDirect, SendGroup) carry a client_msg_id and are retried with it.
//
// Callbacks run on the client's reader goroutine, one at a time, and must
// not block. All methods are safe for concurrent use. Dial starts the
// reader, writer, pinger and offline (batched acks, gap pulls) goroutines;
// Close stops them and waits.
package client
