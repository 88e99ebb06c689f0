package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// MaxReasonBytes bounds the reason of a moderation action.
const MaxReasonBytes = 256

// DeletedKind is the kind of a deletion event (RoomMessage.deletes set).
const DeletedKind = "deleted"

// DeleteRequest asks to delete one accepted message of a room.
type DeleteRequest struct {
	Room     string
	Seq      uint64 // the message's seq in its lane
	Priority bool   // the lane: Seq is a pseq
	By       string // who asks
	// Admin callers (the admin API, tokens with the admin role) may delete
	// any message at any time.
	Admin  bool
	Reason string
	// ByRole is the caller's role in the room from its token, "" none.
	ByRole Role
}

// Deleted describes a deletion.
type Deleted struct {
	// MsgID is the deleted message's id (0 when the store no longer kept it).
	MsgID uint64
	// EventPSeq is the pseq of the deletion event; 0 when the message was
	// deleted already (nothing new was announced).
	EventPSeq uint64
}

// DeleteMessage deletes one message: the sender may within
// Config.DeleteWindow of its acceptance; the room's hosts and moderators
// and admins at any time. Every deletion is in the room's audit log. The kept copy in the store
// becomes a tombstone (seq kept, body gone), then a deletion event is
// accepted in the priority lane as a system notice (so no other priority
// traffic evicts it) and broadcast like any message: every node replaces
// its ring copy with the tombstone before it holds the event, and viewers
// that already received the message learn of the deletion from the event.
//
// The store is read and written without the room's lock; only the event's
// numbering and broadcast take it, like a send.
func (s *Service) DeleteMessage(ctx context.Context, req DeleteRequest) (Deleted, error) {
	switch {
	case req.Seq == 0:
		return Deleted{}, fmt.Errorf("%w: seq must be at least 1", ErrInvalid)
	case len(req.Reason) > MaxReasonBytes:
		return Deleted{}, fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, MaxReasonBytes)
	case req.By == "":
		return Deleted{}, fmt.Errorf("%w: no caller", ErrInvalid)
	}
	r, err := s.lookupCtx(ctx, req.Room, false)
	if err != nil {
		return Deleted{}, err
	}
	r.mu.Lock()
	head := r.seq
	if req.Priority {
		head = r.pseq
	}
	role := r.roleLocked(req.By, req.ByRole)
	r.mu.Unlock()
	if req.Seq > head {
		return Deleted{}, ErrMessageNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kept, err := s.store.Recent(ctx, r.id, req.Priority, req.Seq-1, 1)
	if err != nil {
		s.metrics.storeErrors.Inc()
		return Deleted{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var orig *pb.RoomMessage
	if len(kept) == 1 && kept[0].Seq == req.Seq {
		orig = kept[0]
	}
	as, err := s.mayDelete(req, orig, role)
	if err != nil {
		return Deleted{}, err
	}
	var d Deleted
	if orig != nil {
		d.MsgID = orig.MsgId
		if orig.Deleted {
			return d, nil
		}
	}
	term, owner := s.terms.Term(r.id)
	if !owner {
		s.Forget(r.id)
		return Deleted{}, ErrNotOwner
	}
	if orig != nil {
		if _, err := s.store.Tombstone(ctx, r.id, term, wire.Tombstone(orig)); err != nil {
			if errors.Is(err, ErrFenced) {
				s.metrics.fenced.Inc()
				s.Forget(r.id)
				return Deleted{}, fmt.Errorf("%w: %w", ErrNotOwner, err)
			}
			s.metrics.storeErrors.Inc()
			return Deleted{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	ev := &pendingAppend{m: &pb.RoomMessage{
		MsgId:    s.ids.Next(),
		Ts:       s.now().UnixMilli(),
		Kind:     DeletedKind,
		Priority: true,
		System:   true,
		Deletes:  &pb.Deletion{Seq: req.Seq, Priority: req.Priority, MsgId: d.MsgID},
	}}
	if orig != nil {
		// The deletion of a message shown to its sender only is shown to
		// the sender only: nobody else learns there was one.
		ev.m.VisibleTo = orig.VisibleTo
	}
	r.mu.Lock()
	r.wq = append(r.wq, ev)
	forget := s.commitLocked(ctx, r, ev)
	r.mu.Unlock()
	if forget {
		s.Forget(r.id)
	}
	if ev.err != nil {
		return Deleted{}, ev.err
	}
	d.EventPSeq = ev.m.Seq
	s.metrics.deleted.Inc()
	lane := "normal"
	if req.Priority {
		lane = "priority"
	}
	e := AuditEntry{At: s.now().UTC(), By: req.By, As: as, Action: ActDelete, Seq: req.Seq, Lane: lane, Reason: req.Reason}
	if orig != nil {
		e.Target = orig.From
	}
	s.audit(ctx, r.id, e)
	return d, nil
}

// mayDelete decides whether req's caller, holding role in the room, may
// delete orig (nil: the store no longer keeps it), and returns the
// standing it deletes with (for the audit log).
func (s *Service) mayDelete(req DeleteRequest, orig *pb.RoomMessage, role Role) (string, error) {
	switch {
	case req.Admin:
		return "admin", nil
	case role.rank() > 0:
		return string(role), nil
	case orig == nil:
		// Nobody can tell who sent it: only a privileged caller may.
		return "", ErrMessageNotFound
	case orig.From != req.By || orig.System:
		return "", ErrDeleteForbidden
	}
	if age := s.now().Sub(time.UnixMilli(orig.Ts)); age > s.cfg.DeleteWindow {
		return "", fmt.Errorf("%w: sent %v ago, the sender may delete within %v", ErrDeleteForbidden, age.Round(time.Second), s.cfg.DeleteWindow)
	}
	return "sender", nil
}
