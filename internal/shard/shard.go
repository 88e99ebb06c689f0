// Package shard is the one place that maps keys (room ids, user ids) to
// in-process shards. Cluster placement (which node owns a key) is a different
// thing and lives in the cluster package.
package shard

// Index returns the shard of key among n shards (n > 0), with 64-bit FNV-1a:
// fast, inlinable, stable across processes.
func Index(key string, n int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return int(h % uint64(n))
}

// Uint returns the shard of an integer key among n shards (n > 0).
func Uint(key uint64, n int) int {
	key ^= key >> 33
	key *= 0xff51afd7ed558ccd
	key ^= key >> 33
	return int(key % uint64(n))
}
