package server

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/roomcast/roomcast/internal/certreload"
)

// TLS on the gateway listener (http.tls). A *tls.Conn offers no
// syscall.Conn, so the gateway cannot park TLS connections in its poller:
// each keeps its reader goroutine and TLS buffers (docs/operations.md gives
// the cost; terminate TLS at a proxy for the largest rooms).

// newTLS returns the reloader of http.tls, or nil without TLS.
func (s *Server) newTLS() *certreload.Reloader {
	t := s.cfg.HTTP.TLS
	if !t.Enabled() {
		return nil
	}
	return certreload.New(t.CertFile, t.KeyFile)
}

// wrapTLS loads the pair and wraps ln; without TLS it returns ln as is.
func (s *Server) wrapTLS(ln net.Listener) (net.Listener, error) {
	if s.certs == nil {
		return ln, nil
	}
	if err := s.certs.Reload(); err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{
		GetCertificate: s.certs.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		// WebSocket upgrades need HTTP/1.1 (RFC 6455); no h2.
		NextProtos: []string{"http/1.1"},
	}), nil
}

// ErrNoTLS is returned by ReloadTLS on a node without http.tls.
var ErrNoTLS = errors.New("server: http.tls is not configured")

// ReloadTLS reads the certificate and key files again (SIGHUP). On error
// the pair in use is kept.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return ErrNoTLS
	}
	if err := s.certs.Reload(); err != nil {
		return err
	}
	s.log.Info("TLS certificate reloaded", "cert_file", s.cfg.HTTP.TLS.CertFile)
	return nil
}

// checkTLS reloads the pair when its files changed; Start runs it every
// http.tls.reload_interval on s.bg. A pair that does not parse (a renewal
// half written) is logged once per distinct error and the old one kept.
func (s *Server) checkTLS(time.Time) {
	changed, err := s.certs.ReloadIfChanged()
	switch {
	case err != nil:
		if msg := err.Error(); msg != s.tlsErr {
			s.log.Warn("TLS certificate not reloaded; the one in use is kept", "err", err)
			s.tlsErr = msg
		}
	case changed:
		s.tlsErr = ""
		s.log.Info("TLS certificate reloaded", "cert_file", s.cfg.HTTP.TLS.CertFile)
	}
}
