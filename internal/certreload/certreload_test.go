package certreload

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/roomcast/roomcast/internal/testsupport/testcert"
)

func commonName(t *testing.T, r *Reloader) string {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestReloadKeepsOldPairOnBadFiles(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	r := New(cf, kf)
	if _, err := r.GetCertificate(nil); err != ErrNotLoaded {
		t.Fatalf("before load: %v, want ErrNotLoaded", err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of missing files succeeded")
	}
	testcert.Write(t, cf, kf, "one.test")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := commonName(t, r); got != "one.test" {
		t.Fatalf("CN %q", got)
	}
	// A half-written renewal: garbage in the certificate file.
	if err := os.WriteFile(cf, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a broken certificate succeeded")
	}
	if got := commonName(t, r); got != "one.test" {
		t.Fatalf("after a failed reload CN %q, want the old one.test", got)
	}
}

func TestReloadIfChanged(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	testcert.Write(t, cf, kf, "one.test")
	r := New(cf, kf)
	if changed, err := r.ReloadIfChanged(); err != nil || !changed {
		t.Fatalf("first check: changed=%v err=%v, want a load", changed, err)
	}
	if changed, err := r.ReloadIfChanged(); err != nil || changed {
		t.Fatalf("unchanged files: changed=%v err=%v", changed, err)
	}
	testcert.Write(t, cf, kf, "two.test")
	if changed, err := r.ReloadIfChanged(); err != nil || !changed {
		t.Fatalf("renewed files: changed=%v err=%v", changed, err)
	}
	if got := commonName(t, r); got != "two.test" {
		t.Fatalf("CN %q after renewal", got)
	}
}
