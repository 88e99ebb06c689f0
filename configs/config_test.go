package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/fanout"
)

// TestDocumentedFileIsTheDefaults keeps configs/roomcast.yaml honest: it
// documents every setting with its default value.
func TestDocumentedFileIsTheDefaults(t *testing.T) {
	got, err := Load("roomcast.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	got.Node.ID, want.Node.ID = "", ""
	// The file spells empty lists as [], the code leaves them nil.
	got.Auth.Previous, got.Gateway.AllowedOrigins, got.Redis.Addrs, got.Cluster.Zookeeper, got.Admin.APIKeys = nil, nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("roomcast.yaml differs from the defaults:\n file: %+v\n code: %+v", got, want)
	}
	// And it names every field.
	data, _ := os.ReadFile("roomcast.yaml")
	for _, path := range settingPaths(reflect.TypeOf(Config{}), "") {
		key := path[strings.LastIndex(path, ".")+1:]
		if !strings.Contains(string(data), key+":") {
			t.Errorf("roomcast.yaml does not document %s", path)
		}
	}
}

// TestEveryScalarSettingHasItsEnvVar checks that the environment name of a
// setting is its YAML path in upper case, for every scalar setting.
func TestEveryScalarSettingHasItsEnvVar(t *testing.T) {
	for _, path := range settingPaths(reflect.TypeOf(Config{}), "") {
		if path == "auth.previous" {
			continue // a list of keys: YAML only
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
		val := sampleValue(t, path)
		c, err := Load("", []string{name + "=" + val})
		if err != nil {
			t.Errorf("%s=%s: %v", name, val, err)
			continue
		}
		if got := fieldString(c, path); got != val {
			t.Errorf("%s=%s set %s to %q", name, val, path, got)
		}
	}
}

func field(c Config, path string) reflect.Value {
	v := reflect.ValueOf(c)
	for _, part := range strings.Split(path, ".") {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

func sampleValue(t *testing.T, path string) string {
	v := field(Config{}, path)
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		return "1m7s"
	case v.Kind() == reflect.String:
		return "x-value"
	case v.Kind() == reflect.Bool:
		return "true"
	case v.Kind() == reflect.Slice:
		return "a,b"
	case v.Kind() == reflect.Float64:
		return "7.5"
	default:
		return "7"
	}
}

func fieldString(c Config, path string) string {
	v := field(c, path)
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

func TestPrecedenceFileThenEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("gateway:\n  listen: 127.0.0.1:9000\nroom:\n  rate: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"ROOMCAST_ROOM_RATE=75", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Listen != "127.0.0.1:9000" || c.Room.Rate != 75 || c.Room.Burst != 7 {
		t.Fatalf("listen %q rate %v burst %d", c.Gateway.Listen, c.Room.Rate, c.Room.Burst)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "bad.yaml")
		_ = os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct{ yaml, env, want string }{
		{"room:\n  rate: -1\n", "", "room.rate"},
		{"gateway:\n  max_frame_bytes: 10\n", "", "gateway.max_frame_bytes"},
		{"gateway:\n  idle_timeout: 1s\n  ping_interval: 2s\n", "", "gateway.idle_timeout"},
		{"gateway:\n  tcp_keepalive: -1s\n", "", "gateway.tcp_keepalive"},
		{"", "ROOMCAST_GATEWAY_TCP_KEEPALIVE=-15s", "gateway.tcp_keepalive"},
		{"fanout:\n  inline_bytes: -5\n", "", "fanout.inline_bytes"},
		{"fanout:\n  notify:\n    min_interval: -1s\n", "", "fanout.notify.min_interval"},
		{"fanout:\n  notify:\n    pull_rtt_target: -1s\n", "", "fanout.notify.pull_rtt_target"},
		{"", "ROOMCAST_FANOUT_NOTIFY_PULL_RTT_TARGET=-5ms", "fanout.notify.pull_rtt_target"},
		{"log:\n  level: loud\n", "", "log.level"},
		{"auth:\n  secret: short\n", "", "auth.secret"},
		{"mode: galaxy\n", "", "mode"},
		{"gateway:\n  max_queue_bytes: 70000\n", "", "gateway.max_queue_bytes"},
		{"fanout:\n  inline_bytes: 500000\n", "", "fanout.inline_bytes"},
		{"gateway:\n  drain_window: -2s\n", "", "gateway.drain_window"},
		{"gateway:\n  drain_window: 2h\n", "", "gateway.drain_window"},
		{"", "ROOMCAST_GATEWAY_DRAIN_WINDOW=soon", "ROOMCAST_GATEWAY_DRAIN_WINDOW"},
		{"", "ROOMCAST_ROOM_RATE=fast", "ROOMCAST_ROOM_RATE"},
		{"", "ROOMCAST_GATEWAY_LISTN=x", "ROOMCAST_GATEWAY_LISTN"},
		{"node:\n  number: 5000\n", "", "node.number"},
		{"mode: cluster\n", "", "redis.addrs"},
		{"mode: cluster\nredis:\n  addrs: [x:1]\n", "", "cluster.zookeeper"},
		{"mode: cluster\nredis:\n  addrs: [x:1]\ncluster:\n  zookeeper: [z:1]\n", "", "auth.secret"},
		{"mode: cluster\nredis:\n  addrs: [x:1]\ncluster:\n  zookeeper: [z:1]\n  roles: [boss]\nauth:\n  secret: 0123456789abcdef0123456789abcdef\n", "", "cluster.roles"},
		{"admin:\n  api_keys: [short]\n", "", "admin.api_keys[0]"},
		{"gateway:\n  listen: 0.0.0.0:8080\n", "", "gateway.listen"},
		{"", "ROOMCAST_GATEWAY_LISTEN=:8080", "auth.secret"},
	}
	for _, c := range cases {
		var env []string
		if c.env != "" {
			env = []string{c.env}
		}
		cfg, err := Load(write(c.yaml), env)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %q: err %v, want it to name %s", c.yaml, c.env, err, c.want)
		}
	}
	if _, err := Load(write("gatewya:\n  listen: x\n"), nil); err == nil || !strings.Contains(err.Error(), "gatewya") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestKeys(t *testing.T) {
	c := Default()
	if !c.UsesDevSecret() || string(c.Keys()[0].Secret) != DevSecret {
		t.Fatal("embedded default must use the dev secret")
	}
	c.Auth.Secret = strings.Repeat("s", 32)
	c.Auth.Previous = []Key{{ID: "k0", Secret: strings.Repeat("p", 32)}}
	keys := c.Keys()
	if c.UsesDevSecret() || len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k0" {
		t.Fatalf("keys = %+v", keys)
	}
}

// TestDevSecretOnlyOnLoopback: with the public development secret the
// server may listen on loopback only; with a secret of its own, anywhere.
func TestDevSecretOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8080", true}, {"127.0.0.1:0", true}, {"127.9.9.9:80", true}, {"[::1]:8080", true},
		{"localhost:8080", true}, {"LOCALHOST:8080", true}, {"", true},
		{":8080", false}, {"0.0.0.0:8080", false}, {"[::]:8080", false}, {"192.168.1.5:8080", false},
		{"10.0.0.1:0", false}, {"example.com:8080", false}, {"localhost.example.com:80", false}, {"127.0.0.1", false},
	} {
		cfg := Default()
		cfg.Gateway.Listen = c.listen
		err := cfg.Validate()
		if c.ok && err != nil {
			t.Errorf("listen %q with the dev secret: %v", c.listen, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "gateway.listen") || !strings.Contains(err.Error(), "auth.secret")) {
			t.Errorf("listen %q with the dev secret: err %v, want one naming gateway.listen and auth.secret", c.listen, err)
		}
		cfg.Auth.Secret = DevSecret // named explicitly: the same
		if err2 := cfg.Validate(); (err2 == nil) != c.ok {
			t.Errorf("listen %q with auth.secret = DevSecret: %v", c.listen, err2)
		}
		cfg.Auth.Secret = strings.Repeat("s", 32)
		if err := cfg.Validate(); err != nil && c.listen != "127.0.0.1" {
			t.Errorf("listen %q with a secret of its own: %v", c.listen, err)
		}
	}
}

// TestYAMLErrorsNameTheSetting: every way a YAML value can be wrong — its
// type, its range, an unknown or repeated key — gives an error that names
// the setting by its full path, and nothing of the YAML library's Go types.
func TestYAMLErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct{ yaml, want string }{
		// wrong type
		{"fanout: {pull_window: banana}\n", `fanout.pull_window: cannot use "banana" (line 1): want a duration`},
		{"fanout:\n  notify:\n    min_interval: [1, 2]\n", "fanout.notify.min_interval: cannot use a list (line 3): want a duration"},
		{"room:\n  rate: fast\n", `room.rate: cannot use "fast" (line 2): want a number`},
		{"gateway:\n  max_conns: 1.5\n", `gateway.max_conns: cannot use "1.5" (line 2): want an integer`},
		{"node:\n  number: 99999999999999999999\n", "node.number: cannot use"},
		{"gateway: 8080\n", `gateway: cannot use "8080" (line 1): want a mapping`},
		{"redis:\n  addrs: {a: b}\n", "redis.addrs: cannot use a mapping (line 2): want a list"},
		{"auth:\n  previous:\n    - id: k0\n      secret: [x]\n", "auth.previous[0].secret: cannot use a list (line 4): want a string"},
		// out of range (Validate)
		{"fanout:\n  pull_window: -1s\n", "fanout.pull_window: must not be negative"},
		{"gateway:\n  send_burst: -1\n", "gateway.send_burst: must not be negative"},
		{"gateway:\n  write_timeout: -1s\n", "gateway.write_timeout: must not be negative"},
		// unknown or repeated key
		{"fanout:\n  pull_windw: 1s\n", "fanout.pull_windw: unknown setting (line 2)"},
		{"auth:\n  previous:\n    - id: k0\n      secrt: x\n", "auth.previous[0].secrt: unknown setting (line 4)"},
		{"room:\n  rate: 1\n  rate: 2\n", "room.rate: set twice (lines 2 and 3)"},
	} {
		p := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
		if err := os.WriteFile(p, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, nil)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want it to contain %q", c.yaml, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "unmarshal") || strings.Contains(err.Error(), "time.Duration") {
			t.Errorf("%q: err %v speaks of the YAML library's types", c.yaml, err)
		}
	}
}

// TestYAMLStillDecodesAliasesAndLists: values load as before
// (aliases, flow and block styles, lists of mappings).
func TestYAMLStillDecodesAliasesAndLists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ok.yaml")
	body := "x-common: &rate 42\nroom:\n  rate: *rate\nauth:\n  previous:\n    - {id: k0, secret: s}\nredis:\n  addrs: [a:1, b:2]\nfanout:\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "x-common: unknown setting") {
		t.Fatalf("top-level anchor key: %v", err)
	}
	body = "room:\n  rate: &rate 42\n  burst: 7\nfanout:\n  pull_window: 3s\nauth:\n  previous:\n    - {id: k0, secret: s}\nredis:\n  addrs: [a:1, b:2]\ncluster:\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Room.Rate != 42 || c.Room.Burst != 7 || c.Fanout.PullWindow != 3*time.Second ||
		len(c.Auth.Previous) != 1 || c.Auth.Previous[0].Secret != "s" || len(c.Redis.Addrs) != 2 {
		t.Fatalf("decoded %+v %+v %+v %+v", c.Room, c.Fanout.PullWindow, c.Auth.Previous, c.Redis.Addrs)
	}
}

// TestParkAfterNeverAsDocumented: configs/roomcast.yaml documents
// park_after -1ns as "never park"; it loads and validates as -1.
func TestParkAfterNeverAsDocumented(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("gateway:\n  park_after: -1ns\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Gateway.ParkAfter != -1 {
		t.Fatalf("park_after -1ns loaded as %v, want -1ns", c.Gateway.ParkAfter)
	}
}

// TestEnvErrorsNameTheSetting: an environment variable of the wrong type
// is refused with its name, the setting's YAML path and what it takes, not
// the Go field and type.
func TestEnvErrorsNameTheSetting(t *testing.T) {
	for kv, want := range map[string]string{
		"ROOMCAST_FANOUT_RING_SIZE=abc":              `ROOMCAST_FANOUT_RING_SIZE (fanout.ring_size): cannot use "abc": want an integer`,
		"ROOMCAST_FANOUT_NOTIFY_MIN_INTERVAL=banana": `ROOMCAST_FANOUT_NOTIFY_MIN_INTERVAL (fanout.notify.min_interval): cannot use "banana": want a duration`,
		"ROOMCAST_ROOM_RATE=fast":                    `ROOMCAST_ROOM_RATE (room.rate): cannot use "fast": want a number`,
		"ROOMCAST_FANOUT_RINGSIZE=3":                 "unknown environment variable ROOMCAST_FANOUT_RINGSIZE",
	} {
		_, err := Load("", []string{kv})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %s", kv, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "RingSize") || strings.Contains(err.Error(), "time.Duration")) {
			t.Errorf("%s: %v names the Go field or type", kv, err)
		}
	}
}

// TestPullRTTTargetReachesThePacer: fanout.notify.pull_rtt_target, set
// in the file or by ROOMCAST_FANOUT_NOTIFY_PULL_RTT_TARGET, is what the
// node's pacer holds the pull round trip against (its exported
// threshold); unset, the documented 500ms.
func TestPullRTTTargetReachesThePacer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rtt.yaml")
	if err := os.WriteFile(p, []byte("fanout:\n  notify:\n    pull_rtt_target: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		env  []string
		want float64
	}{
		{"roomcast.yaml", nil, 0.5},
		{p, nil, 0.3},
		{p, []string{"ROOMCAST_FANOUT_NOTIFY_PULL_RTT_TARGET=250ms"}, 0.25},
	} {
		cfg, err := Load(c.path, c.env)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		if _, err := fanout.New(fanout.Deps{Registerer: reg}, cfg.Fanout); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, mf := range mfs {
			if mf.GetName() == "roomcast_fanout_pacer_rtt_threshold_seconds" {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != c.want {
			t.Errorf("%s %v: pacer round trip threshold %v, want %v", c.path, c.env, got, c.want)
		}
	}
}

// TestInlineDefaultFitsTheQueue: unset, fanout.inline_bytes is 64 KiB,
// or what gateway.max_queue_bytes leaves for it when that is less (a
// config that lowered the queue bound loads as under the old 16 KiB
// default); set, it is checked against the bound as before.
func TestInlineDefaultFitsTheQueue(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		yaml    string
		want    int
		wantErr string
	}{
		{"", 65536, ""},
		{"gateway:\n  max_queue_bytes: 300000\n", 65536, ""},
		// (100000 - 32768 pull_bytes - 4096 max_body_bytes) / 2
		{"gateway:\n  max_queue_bytes: 100000\nfanout:\n  pull_bytes: 32768\n", 31568, ""},
		// The smallest bound the old default allowed.
		{"gateway:\n  max_queue_bytes: 65536\nfanout:\n  pull_bytes: 16384\nroom:\n  max_body_bytes: 16384\n", 16384, ""},
		{"gateway:\n  max_queue_bytes: 100000\nfanout:\n  pull_bytes: 32768\n  inline_bytes: 65536\n", 0, "fanout.inline_bytes"},
		{"gateway:\n  max_queue_bytes: 100000\nfanout:\n  pull_bytes: 32768\n  inline_bytes: -1\n", -1, ""},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, nil)
		if err == nil {
			err = cfg.Validate()
		}
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want one naming %s", c.yaml, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.yaml, err)
			continue
		}
		if cfg.Fanout.InlineBytes != c.want {
			t.Errorf("%q: inline_bytes %d, want %d", c.yaml, cfg.Fanout.InlineBytes, c.want)
		}
	}
}
