// Package rediskeys is test support: it reads the one table of Redis keys
// and channels, docs/redis-keys.md, and checks that what a workload wrote
// to a real redis-server is in it. The stores' and the cluster's
// TestRedisKeysAreDocumented use it. It starts no goroutines; only test
// code imports it.
package rediskeys
