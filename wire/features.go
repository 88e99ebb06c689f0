package wire

import "strings"

// Features is a set of optional frame kinds a client said it understands
// (Connect.features, or ?features= at the handshake). The server pushes a
// frame kind added after v1 only to connections whose Features have it,
// so a client built before the kind existed never receives it.
type Features uint32

// The features, with their names on the wire.
const (
	// FeatureRoomCount: RoomCount pushes (a joined room's viewer count).
	FeatureRoomCount Features = 1 << iota
	// FeatureCountersOnRequest: the client asks for its offline counters
	// itself (ListCounters) when it wants them, so the server pushes none
	// after Connected and a connect costs the offline store nothing. A
	// client that does not name it gets the login push, as before
	// (docs/offline.md, "Login").
	FeatureCountersOnRequest
)

var featureNames = []struct {
	f    Features
	name string
}{
	{FeatureRoomCount, "room_count"},
	{FeatureCountersOnRequest, "counters_on_request"},
}

// ParseFeatures returns the features named (each name may also be a
// comma-separated list, as in a URL); names it does not know are ignored.
func ParseFeatures(names ...string) Features {
	var out Features
	for _, list := range names {
		for name := range strings.SplitSeq(list, ",") {
			name = strings.TrimSpace(name)
			for _, fn := range featureNames {
				if fn.name == name {
					out |= fn.f
				}
			}
		}
	}
	return out
}

// Has reports whether every feature of x is in f.
func (f Features) Has(x Features) bool { return f&x == x }

// Names returns the names of the features in f, in a fixed order.
func (f Features) Names() []string {
	var out []string
	for _, fn := range featureNames {
		if f.Has(fn.f) {
			out = append(out, fn.name)
		}
	}
	return out
}
