package server

import (
	"errors"
	"fmt"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/filter"
	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// errNoFilterFile refuses a reload on a server without room.filter_file.
var errNoFilterFile = fmt.Errorf("%w: room.filter_file is not set", room.ErrInvalid)

// errFilterUnreadable: room.filter_file could not be read (the list in
// force stays).
var errFilterUnreadable = errcode.New(pb.Error_UNAVAILABLE, "filter_unreadable", "server: word filter file unreadable")

// loadFilter reads room.filter_file and puts it in force on this node; it
// returns its number of words. Without a file it does nothing.
func (s *Server) loadFilter() (int, error) {
	path := s.cfg.Room.FilterFile
	if path == "" {
		return 0, errNoFilterFile
	}
	f, err := filter.Load(path)
	if err != nil {
		if errors.Is(err, filter.ErrInvalid) {
			return 0, fmt.Errorf("room.filter_file: %w: %w", room.ErrInvalid, err)
		}
		return 0, fmt.Errorf("room.filter_file: %w: %w", errFilterUnreadable, err)
	}
	s.rooms.SetFilter(f)
	s.log.Info("word filter loaded", "file", path, "words", f.Len())
	return f.Len(), nil
}

// filterReloader is the admin API's reload of the word filter: this node
// (embedded) or every node (cluster).
type filterReloader struct{ s *Server }

func (r filterReloader) ReloadFilter() (admin.FilterReloadResult, error) {
	if r.s.cfg.Room.FilterFile == "" {
		return admin.FilterReloadResult{}, errNoFilterFile
	}
	if n := r.s.node; n != nil {
		res, err := n.ReloadFilter()
		return admin.FilterReloadResult{Nodes: res.Nodes, Failed: res.Failed, Words: res.Words}, err
	}
	words, err := r.s.loadFilter()
	if err != nil {
		return admin.FilterReloadResult{Failed: 1}, err
	}
	return admin.FilterReloadResult{Nodes: 1, Words: words}, nil
}
