// Package tcpproxy is test support: a TCP link in front of a server that a
// test can cut (connections closed, new ones refused) or freeze
// (connections stay open and carry nothing, as with a stopped peer or a
// half-open connection). It imports nothing of roomcast, so any test
// package can use it.
package tcpproxy
