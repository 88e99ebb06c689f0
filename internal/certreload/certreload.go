package certreload

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotLoaded is returned by GetCertificate before a pair was loaded.
var ErrNotLoaded = errors.New("certreload: no certificate loaded")

// Reloader serves the certificate loaded last from CertFile and KeyFile.
type Reloader struct {
	certFile, keyFile string

	cur atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises loads; guards stamp
	stamp [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New returns a Reloader for the two files. It reads nothing: call Reload
// before serving.
func New(certFile, keyFile string) *Reloader {
	return &Reloader{certFile: certFile, keyFile: keyFile}
}

// Reload reads and parses both files. On error the pair in use is kept.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

// ReloadIfChanged reloads when either file's modification time or size
// differs from the last successful load, and reports whether it did.
func (r *Reloader) ReloadIfChanged() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, err := r.stat()
	if err != nil {
		return false, err
	}
	if now == r.stamp && r.cur.Load() != nil {
		return false, nil
	}
	if err := r.loadLocked(); err != nil {
		return false, err
	}
	return true, nil
}

func (r *Reloader) loadLocked() error {
	// Stat before reading: a write that lands between the two is seen as a
	// change at the next check and loaded again.
	st, err := r.stat()
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("certreload: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cur.Store(&pair)
	r.stamp = st
	return nil
}

func (r *Reloader) stat() ([2]fileStamp, error) {
	var st [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return st, fmt.Errorf("certreload: %w", err)
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st, nil
}

// Certificate returns the pair in use, or nil before the first load.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := r.cur.Load(); c != nil {
		return c, nil
	}
	return nil, ErrNotLoaded
}
