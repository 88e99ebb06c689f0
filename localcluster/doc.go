// Package localcluster runs a roomcast cluster on one machine: ZooKeeper
// and Redis from the Debian packages on loopback, and one roomcast node
// process per config file, each logging to a file of its own. It
// supervises them: a node, Redis or ZooKeeper that exits is started again
// with the same command line and data. `roomcast cluster` is its command.
//
// The service launchers (LaunchRedis, LaunchZooKeeper) are also what the
// tests start real services with (internal/testsupport/testenv).
package localcluster
