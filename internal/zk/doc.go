// This package is a copy of github.com/go-zookeeper/zk v1.0.4 (BSD
// 3-Clause, see LICENSE; the upstream files without their tests), kept in
// the module so that a fix it needs can ship before upstream has one, and
// `go install github.com/roomcast/roomcast/cmd/roomcast@latest` still
// works (a replace directive would break that). Changes from v1.0.4 are
// listed in PATCHES.md; everything else is upstream's, byte for byte.
package zk
