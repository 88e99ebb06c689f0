// Package certreload keeps a TLS certificate and key loaded from files and
// loads them again when they change, so a renewed certificate needs no
// restart.
//
// A Reloader holds the last pair that loaded; Reload and ReloadIfChanged
// replace it only with a pair that parses, so a half-written renewal never
// takes the listener down. GetCertificate (for tls.Config) is safe for
// concurrent use with both. The package starts no goroutine: its user calls
// ReloadIfChanged on its own schedule (the server does, every
// http.tls.reload_interval, and Reload on SIGHUP).
package certreload
