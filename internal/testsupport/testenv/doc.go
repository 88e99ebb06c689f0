// Package testenv starts the real external services tests need — a
// redis-server and a ZooKeeper server from the Debian packages — on free
// loopback ports, and stops them by PID. Nothing here is a fake: tests that
// claim to cover Redis or ZooKeeper run against these processes.
//
// Launch* start a process and return it (for TestMain); Start* do the same
// for one test and stop it at the test's cleanup. If a package is missing
// the test fails with a message pointing at ./scripts/test.sh, which
// installs it. Child processes get SIGKILL if the test binary dies.
//
// `roomcast cluster` (the local three-node cluster) uses the Launch
// functions too, on fixed ports.
package testenv
