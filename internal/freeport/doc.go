// Package freeport picks a TCP port on 127.0.0.1 for a process to listen
// on later (a test's node, Redis or ZooKeeper, a load run's server).
//
// A port the kernel hands out for 127.0.0.1:0 comes from its ephemeral
// range, the one it also gives the source ports of outgoing connections:
// between the pick and the listen, a busy box's next connection may take
// it, and the listen fails with "address already in use". Pick chooses
// below that range instead (read from
// /proc/sys/net/ipv4/ip_local_port_range; 32768-60999 when unknown), at
// random, checks that it can listen there now, and does not hand out the
// same port twice in one process. Only another process listening on the
// same port in between can still take it.
//
// Pick is safe for concurrent use and starts no goroutine.
package freeport
