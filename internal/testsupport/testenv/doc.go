// Package testenv is test support: it starts the real external services
// tests need — a redis-server and a ZooKeeper server from the Debian
// packages — on free loopback ports for one test, and stops them at the
// test's cleanup. Nothing here is a fake: tests that claim to cover Redis
// or ZooKeeper run against these processes.
//
// The launchers themselves are localcluster/services's (the product's local
// cluster uses them on fixed ports); Start* wrap them for a test. If a
// package is missing the test fails with a message pointing at
// ./scripts/test.sh, which installs it. Child processes get SIGKILL if the
// test binary dies. Only test code imports this package.
package testenv
