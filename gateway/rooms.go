package gateway

import "github.com/roomcast/roomcast/fanout"

// joinedRooms is the rooms of one connection: a short slice (at most
// MaxRoomsPerConn, usually one), cheaper than a map for an idle viewer.
// A nil sub marks a join in progress. Guarded by conn.rmu.
type joinedRooms []joinedRoom

type joinedRoom struct {
	id  string
	sub *fanout.Sub
}

func (r joinedRooms) get(id string) (*fanout.Sub, bool) {
	for i := range r {
		if r[i].id == id {
			return r[i].sub, true
		}
	}
	return nil, false
}

func (r *joinedRooms) set(id string, sub *fanout.Sub) {
	for i := range *r {
		if (*r)[i].id == id {
			(*r)[i].sub = sub
			return
		}
	}
	*r = append(*r, joinedRoom{id: id, sub: sub})
}

// del removes id and reports its sub (nil for a join in progress) and
// whether it was there.
func (r *joinedRooms) del(id string) (*fanout.Sub, bool) {
	for i := range *r {
		if (*r)[i].id == id {
			sub := (*r)[i].sub
			last := len(*r) - 1
			(*r)[i] = (*r)[last]
			(*r)[last] = joinedRoom{}
			*r = (*r)[:last]
			return sub, true
		}
	}
	return nil, false
}
