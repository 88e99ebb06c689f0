package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// startDebug serves net/http/pprof on http.debug_listen, when set. The
// listener is separate from the public one so that profiles are never
// reachable from clients; it is not authenticated.
func (s *Server) startDebug() error {
	if s.cfg.HTTP.DebugListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.HTTP.DebugListen)
	if err != nil {
		return fmt.Errorf("server: debug listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.debug = &http.Server{Handler: mux, ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.debug.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("debug listener failed", "err", err)
		}
	}()
	s.log.Info("pprof on the debug listener", "addr", ln.Addr().String())
	return nil
}
