package cluster

import (
	"context"
	"encoding/json"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// Create creates a room at its owner (the admin API's create).
func (n *Node) Create(ctx context.Context, roomID string, opts room.CreateOptions) error {
	b, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	return n.lifecycle(ctx, &cpb.RoomLifecycle{Op: cpb.RoomLifecycle_CREATE, Room: roomID, Options: b})
}

// CloseRoom closes a room at its owner; the owner kicks its viewers on every
// node (Kick ROOM_CLOSED).
func (n *Node) CloseRoom(ctx context.Context, roomID string) error {
	return n.lifecycle(ctx, &cpb.RoomLifecycle{Op: cpb.RoomLifecycle_CLOSE, Room: roomID})
}

func (n *Node) lifecycle(ctx context.Context, l *cpb.RoomLifecycle) error {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.RPCTimeout)
	defer cancel()
	return n.route(ctx, "lifecycle", l.Room, func() error {
		return n.applyLifecycle(ctx, l)
	}, func(ctx context.Context, owner string) error {
		_, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_Lifecycle{Lifecycle: l}})
		return err
	})
}

func (n *Node) applyLifecycle(ctx context.Context, l *cpb.RoomLifecycle) error {
	switch l.Op {
	case cpb.RoomLifecycle_CREATE:
		var opts room.CreateOptions
		if err := json.Unmarshal(l.Options, &opts); err != nil {
			return room.ErrInvalid
		}
		return n.rooms.Create(ctx, l.Room, opts)
	case cpb.RoomLifecycle_CLOSE:
		return n.rooms.CloseRoom(ctx, l.Room)
	}
	return room.ErrInvalid
}
