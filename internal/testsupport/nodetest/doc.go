// Package nodetest runs roomcast clusters for tests: real ZooKeeper and
// Redis processes (internal/testsupport/testenv), roomcast nodes in the test process or
// as separate processes that a test can kill -9, SIGSTOP and restart, SDK
// clients that record what they receive, links that let a test break a
// client's connection or cut it in the middle of a large frame (cut.go),
// a TCP proxy that cuts a node's link to a server such as ZooKeeper while
// both keep running (proxy.go), and /metrics scrapes.
//
// A test package that starts nodes as processes must call RunNodeIfChild
// first thing in its TestMain: a node process is the test binary itself,
// started again with EnvNodeConfig naming the node's YAML config, so it
// runs the code under test (race detector included).
//
//	func TestMain(m *testing.M) {
//		nodetest.RunNodeIfChild()
//		os.Exit(m.Run())
//	}
//
// Concurrency: Env, Proc, Viewer, Link and Proxy are safe for concurrent
// use except where a method says otherwise (Proc.Start, Stop and Kill
// belong to the test goroutine). Every process, node, proxy and client
// started here is stopped at the test's cleanup; a Proc owns one goroutine
// that waits for its process, a Proxy one that accepts and two per
// connection that copy (Close waits for them), and Link owns none.
package nodetest
