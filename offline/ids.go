package offline

import (
	"strings"

	"github.com/roomcast/roomcast/room"
)

// MaxIDBytes bounds user and group ids used in offline flows.
const MaxIDBytes = room.MaxIDBytes

// MaxKindBytes bounds a message kind; MaxClientMsgIDBytes a client_msg_id.
const (
	MaxKindBytes        = 32
	MaxClientMsgIDBytes = 64
)

// ValidID reports whether id can name a user or a group in offline flows:
// the room-id alphabet (1-128 bytes of A-Z a-z 0-9 . _ : @ -). It never
// contains '|', '{' or '}', so conversation ids and Redis hash tags built
// from it are unambiguous.
func ValidID(id string) bool { return room.ValidID(id) }

// DirectConv is the id of the 1:1 conversation of users a and b:
// "d:<lower>|<higher>".
func DirectConv(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "d:" + a + "|" + b
}

// GroupConv is the conversation id of a group: "g:<group>".
func GroupConv(group string) string { return "g:" + group }

// conv is a parsed conversation id.
type conv struct {
	id    string
	group string // group conversations
	a, b  string // direct conversations, a < b
}

func (c conv) isGroup() bool { return c.group != "" }

// has reports whether user is one of the two members of a direct
// conversation (groups need the store).
func (c conv) has(user string) bool { return c.a == user || c.b == user }

// peer returns the other member of a direct conversation.
func (c conv) peer(user string) string {
	if c.a == user {
		return c.b
	}
	return c.a
}

// parseConv parses a conversation id; ok is false for anything malformed.
func parseConv(id string) (conv, bool) {
	switch {
	case strings.HasPrefix(id, "g:"):
		g := id[2:]
		return conv{id: id, group: g}, ValidID(g)
	case strings.HasPrefix(id, "d:"):
		a, b, ok := strings.Cut(id[2:], "|")
		if !ok || !ValidID(a) || !ValidID(b) || a >= b {
			return conv{}, false
		}
		return conv{id: id, a: a, b: b}, true
	}
	return conv{}, false
}

// inDirect reports whether user is one of the two users of the direct
// conversation id.
func inDirect(id, user string) bool {
	c, ok := parseConv(id)
	return ok && !c.isGroup() && c.has(user)
}
