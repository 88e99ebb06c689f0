package redisconn

import (
	"context"
	"testing"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

func TestNewAgainstRealRedis(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := New(Config{Addrs: []string{r.Addr}, DB: 2})
	defer rdb.Close()
	ctx := context.Background()
	if err := Ping(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, "k").Result(); v != "v" {
		t.Fatalf("get = %q", v)
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{{DB: -1}, {Addrs: []string{"a", "b"}, DB: 1}, {Addrs: []string{""}}, {PoolSize: -1}}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if d := (Config{}).WithDefaults(); d.KeyPrefix != "rc:" || d.Enabled() {
		t.Fatalf("defaults %+v", d)
	}
}
