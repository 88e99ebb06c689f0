// Package nodetest runs roomcast clusters for tests: real ZooKeeper and
// Redis processes (internal/testenv), roomcast nodes in the test process or
// as separate processes that a test can kill -9, SIGSTOP and restart, SDK
// clients that record what they receive, links that let a test break a
// client's connection, and /metrics scrapes.
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
// Concurrency: Env, Proc, Viewer and Link are safe for concurrent use
// except where a method says otherwise (Proc.Start, Stop and Kill belong to
// the test goroutine). Every process, node and client started here is
// stopped at the test's cleanup; a Proc owns one goroutine that waits for
// its process, and Link owns none.
package nodetest
