// Package services launches the external services a roomcast cluster
// needs — a redis-server and a standalone ZooKeeper server from the Debian
// packages — on loopback, and stops them by PID. It is a leaf: the local
// cluster (package localcluster) and the tests
// (internal/testsupport/testenv) both start their services with it.
package services
