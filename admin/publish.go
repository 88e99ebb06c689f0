package admin

import (
	"fmt"
	"github.com/roomcast/roomcast/internal/errcode"
	"unicode"
	"unicode/utf8"

	"github.com/roomcast/roomcast/room"
)

// The publish API: a backend posts room messages (a gift, a bot's line)
// without holding a WebSocket. A message takes the checks of a client send
// that apply to a backend (body size, kind, a banned or muted sender, the
// room's upstream limit for class normal) and is answered with its seq.

// Message classes a backend may publish.
const (
	// ClassNormal is chat: the normal lane, counted against the room's
	// upstream limit like a client send.
	ClassNormal = "normal"
	// ClassHigh is traffic that must reach every viewer (gifts, the
	// host's words): the priority lane, never evicted by normal traffic
	// and not subject to the room's upstream limit, but not shown as a
	// system notice.
	ClassHigh = "high"
)

// HeaderIdempotencyKey carries the idempotency key of a single publish
// (the same as the body's idempotency_key; both given must agree).
const HeaderIdempotencyKey = "Idempotency-Key"

// MaxPublishBatch bounds the messages of one batch publish.
const MaxPublishBatch = 100

// PublishRequest is one message from the backend.
type PublishRequest struct {
	// From is the sender shown to viewers (required; a user id).
	From string `json:"from"`
	// Body is the text (required; at most room.max_body_bytes).
	Body string `json:"body"`
	// Kind labels it for clients (app-defined, at most 32 bytes).
	Kind string `json:"kind,omitempty"`
	// Class is normal (default) or high.
	Class string `json:"class,omitempty"`
	// IdempotencyKey (1..128 printable ASCII bytes): a retry with the same
	// key (and from) within room.dedupe_window gets the first answer, with
	// duplicate set, and sends nothing: it is the message's client_msg_id.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// PublishResult is one accepted message.
type PublishResult struct {
	Room  string `json:"room"`
	Seq   uint64 `json:"seq"`           // its seq in its lane
	MsgID uint64 `json:"msg_id,string"` // a string: 64-bit ids do not fit a JS number
	Class string `json:"class"`
	// Lane is "normal" or "priority" (a whitelisted sender's normal
	// message takes the priority lane, as it does from a client).
	Lane string `json:"lane"`
	// Duplicate: the idempotency key was seen; this is the first answer.
	Duplicate bool `json:"duplicate"`
}

// PublishBatch is several messages for one room, sent in order.
type PublishBatch struct {
	Messages []PublishRequest `json:"messages"`
}

// PublishBatchResult answers each message of a batch, in order: a result
// or an error (a refusal of one changes nothing for the others).
type PublishBatchResult struct {
	Room     string        `json:"room"`
	Accepted int           `json:"accepted"`
	Failed   int           `json:"failed"`
	Results  []PublishItem `json:"results"`
}

// PublishItem is one answer of a batch: Error is set when the message was
// refused, the other fields when it was accepted.
type PublishItem struct {
	*PublishResult
	Error *Error `json:"error,omitempty"`
}

// check validates a message and turns it into a room send.
func (p PublishRequest) check(roomID, field string) (room.SendRequest, error) {
	if p.Class == "" {
		p.Class = ClassNormal
	}
	switch {
	case p.Body == "":
		return room.SendRequest{}, fmt.Errorf("%w: %sbody is required", ErrInvalid, field)
	case !utf8.ValidString(p.Body):
		return room.SendRequest{}, fmt.Errorf("%w: %sbody must be UTF-8", ErrInvalid, field)
	case p.Class != ClassNormal && p.Class != ClassHigh:
		return room.SendRequest{}, fmt.Errorf("%w: %sclass must be %q or %q, got %q", ErrInvalid, field, ClassNormal, ClassHigh, p.Class)
	}
	if err := checkUser(p.From, field+"from"); err != nil {
		return room.SendRequest{}, err
	}
	if err := checkIdempotencyKey(p.IdempotencyKey, field+"idempotency_key"); err != nil {
		return room.SendRequest{}, err
	}
	high := p.Class == ClassHigh
	return room.SendRequest{Room: roomID, From: p.From, Body: p.Body, Kind: p.Kind,
		Priority: high, Privileged: high, High: high, ClientMsgID: p.IdempotencyKey, Retry: p.IdempotencyKey != ""}, nil
}

func checkIdempotencyKey(k, field string) error {
	if len(k) > room.MaxClientMsgIDBytes {
		return fmt.Errorf("%w: %s must be at most %d bytes", ErrInvalid, field, room.MaxClientMsgIDBytes)
	}
	for _, r := range k {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s must be printable ASCII", ErrInvalid, field)
		}
	}
	return nil
}

func publishResult(roomID string, req room.SendRequest, acc room.Accepted) *PublishResult {
	res := &PublishResult{Room: roomID, Seq: acc.Seq, MsgID: acc.MsgID, Class: ClassNormal, Lane: "normal", Duplicate: acc.Duplicate}
	if req.High {
		res.Class = ClassHigh
	}
	if acc.Priority {
		res.Lane = "priority"
	}
	return res
}

func (h *Handler) publish(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var p PublishRequest
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	if hk := c.r.Header.Get(HeaderIdempotencyKey); hk != "" {
		if p.IdempotencyKey != "" && p.IdempotencyKey != hk {
			return nil, fmt.Errorf("%w: the %s header and idempotency_key differ", ErrInvalid, HeaderIdempotencyKey)
		}
		p.IdempotencyKey = hk
	}
	req, err := p.check(roomID, "")
	if err != nil {
		return nil, err
	}
	acc, err := h.d.Rooms.Send(c.r.Context(), req)
	if err != nil {
		return nil, err
	}
	res := publishResult(roomID, req, acc)
	h.metrics.published.WithLabelValues(res.Class).Inc()
	h.log.Info("admin: publish", "by", c.who, "room", roomID, "from", req.From, "class", res.Class, "seq", res.Seq, "duplicate", res.Duplicate)
	return res, nil
}

func (h *Handler) publishBatch(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var b PublishBatch
	if err := c.decode(&b); err != nil {
		return nil, err
	}
	if len(b.Messages) == 0 || len(b.Messages) > MaxPublishBatch {
		return nil, fmt.Errorf("%w: messages must hold 1..%d messages, got %d", ErrInvalid, MaxPublishBatch, len(b.Messages))
	}
	// A malformed message refuses the whole batch: nothing is sent.
	reqs := make([]room.SendRequest, len(b.Messages))
	for i, p := range b.Messages {
		if reqs[i], err = p.check(roomID, fmt.Sprintf("messages[%d].", i)); err != nil {
			return nil, err
		}
	}
	out := h.d.Rooms.SendMany(c.r.Context(), reqs)
	res := PublishBatchResult{Room: roomID, Results: make([]PublishItem, len(out))}
	for i, r := range out {
		if r.Err != nil {
			res.Failed++
			e := errorBody(errcode.Of(r.Err), r.Err.Error())
			res.Results[i].Error = &e
			continue
		}
		res.Accepted++
		res.Results[i].PublishResult = publishResult(roomID, reqs[i], r.Accepted)
		h.metrics.published.WithLabelValues(res.Results[i].Class).Inc()
	}
	h.log.Info("admin: publish batch", "by", c.who, "room", roomID, "accepted", res.Accepted, "failed", res.Failed)
	return res, nil
}
