package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// TestAttrsAreSentInOrderKeptAndBounded: each change is a priority
// message of kind room.attrs with a growing version; a join gets the whole
// map; the map outlives the room's local state (reloaded from the store);
// a change past the bounds is refused whole; a close deletes it.
func TestAttrsAreSentInOrderKeptAndBounded(t *testing.T) {
	forEachStore(t, StoreConfig{}, func(t *testing.T, store Store) {
		s, rec, _, _ := newSvc(t, Config{})
		s.store = store
		if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
		a, err := s.SetAttrs(ctx, "r", AttrChange{Set: map[string]string{"pinned": "Welcome!", "poll": "1"}})
		if err != nil || a.Version != 1 || a.Attrs["pinned"] != "Welcome!" {
			t.Fatalf("first change: %+v %v", a, err)
		}
		if a, err = s.SetAttrs(ctx, "r", AttrChange{Set: map[string]string{"pinned": "Starts in 5"}, Delete: []string{"poll"}}); err != nil || a.Version != 2 || len(a.Attrs) != 1 {
			t.Fatalf("second change: %+v %v", a, err)
		}
		rec.mu.Lock()
		var versions []uint64
		for _, m := range rec.msgs {
			var body attrsMsg
			if m.Kind != AttrsKind || !m.Priority || !m.System || json.Unmarshal([]byte(m.Body), &body) != nil {
				t.Fatalf("attribute message %+v", m)
			}
			versions = append(versions, body.Version)
		}
		rec.mu.Unlock()
		if fmt.Sprint(versions) != "[1 2]" {
			t.Fatalf("versions sent %v", versions)
		}
		s.Forget("r") // a new owner reloads the room from the store
		info, err := s.Join(ctx, JoinRequest{Room: "r", User: "w", Node: "n1"})
		if err != nil || info.Attrs.Version != 2 || len(info.Attrs.Attrs) != 1 || info.Attrs.Attrs["pinned"] != "Starts in 5" {
			t.Fatalf("join after a reload: %+v %v", info.Attrs, err)
		}
		many := map[string]string{}
		for i := range MaxAttrs {
			many[fmt.Sprint("k", i)] = "v"
		}
		if _, err := s.SetAttrs(ctx, "r", AttrChange{Set: many}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d keys: %v", MaxAttrs+1, err)
		}
		big := string(make([]byte, MaxAttrsBytes))
		if _, err := s.SetAttrs(ctx, "r", AttrChange{Set: map[string]string{"big": big}}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes: %v", MaxAttrsBytes, err)
		}
		if _, err := s.SetAttrs(ctx, "r", AttrChange{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("an empty change: %v", err)
		}
		if got, _ := s.GetAttrs(ctx, "r"); got.Version != 2 || len(got.Attrs) != 1 {
			t.Fatalf("refused changes changed the map: %+v", got)
		}
		if err := s.CloseRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, "r", CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetAttrs(ctx, "r"); got.Version != 0 || len(got.Attrs) != 0 {
			t.Fatalf("the room created again kept the closed room's attributes: %+v", got)
		}
	})
}
