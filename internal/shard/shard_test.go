package shard

import "testing"

func TestSpread(t *testing.T) {
	const n = 16
	var counts [n]int
	for i := 0; i < 16000; i++ {
		counts[Index("room-"+string(rune('a'+i%26))+string(rune(i)), n)]++
		counts[Uint(uint64(i), n)]++
	}
	for i, c := range counts {
		if c < 1000 || c > 3000 {
			t.Fatalf("shard %d got %d of 32000", i, c)
		}
	}
	if Index("x", n) != Index("x", n) {
		t.Fatal("not stable")
	}
}
