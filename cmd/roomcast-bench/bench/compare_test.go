package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRows(t *testing.T) {
	all, err := ParseRows("all")
	if err != nil || len(all) != 5 {
		t.Fatalf("all: %v %v", all, err)
	}
	names := []string{}
	for _, r := range all {
		names = append(names, r.Name())
	}
	if got := strings.Join(names, ","); got != "100@1,1000@200,10000@4,19500@2,10000@200x64" {
		t.Fatalf("all = %s", got)
	}
	if all[0].Duration != time.Minute || all[1].Duration != 0 {
		t.Fatalf("durations %v %v", all[0].Duration, all[1].Duration)
	}
	rows, err := ParseRows(" 100@1/5s, 1000@200 ,10000@200x64,50@0.5")
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{{Viewers: 100, Rate: 1, Duration: 5 * time.Second, DurationS: 5}, {Viewers: 1000, Rate: 200}, {Viewers: 10000, Rate: 200, Publishers: 64}, {Viewers: 50, Rate: 0.5}}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	for _, bad := range []string{"", "100", "x@1", "100@", "100@0", "100@1x0", "100@1xz", "100@1/0s", "100@1/soon", "-5@1"} {
		if _, err := ParseRows(bad); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "-rows") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// The generated Centrifugo config uses the v6 key names (checked against
// `centrifugo defaultconfig` of v6.9.1) with the values the compare mode
// relies on.
func TestCfConfig(t *testing.T) {
	data, err := CfConfig(18000, "hmac-key", "api-key", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		HTTPServer struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		} `json:"http_server"`
		Engine struct {
			Type string `json:"type"`
		} `json:"engine"`
		Client struct {
			Token struct {
				HMAC string `json:"hmac_secret_key"`
			} `json:"token"`
			PingInterval string `json:"ping_interval"`
			PongTimeout  string `json:"pong_timeout"`
		} `json:"client"`
		Channel struct {
			Namespaces []struct {
				Name      string `json:"name"`
				Subscribe bool   `json:"allow_subscribe_for_client"`
			} `json:"namespaces"`
		} `json:"channel"`
		HTTPAPI struct {
			Key string `json:"key"`
		} `json:"http_api"`
		Log struct {
			Level string `json:"level"`
		} `json:"log"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.HTTPServer.Address != "127.0.0.1" || c.HTTPServer.Port != 18000 || c.Engine.Type != "memory" ||
		c.Client.Token.HMAC != "hmac-key" || c.HTTPAPI.Key != "api-key" || c.Log.Level != "warn" ||
		c.Client.PingInterval != "5m0s" || c.Client.PongTimeout != "1m40s" {
		t.Fatalf("config %+v\n%s", c, data)
	}
	if len(c.Channel.Namespaces) != 1 || c.Channel.Namespaces[0].Name != CfNamespace || !c.Channel.Namespaces[0].Subscribe {
		t.Fatalf("namespaces %+v", c.Channel.Namespaces)
	}
	if CfChannel("bench") != "room:bench" {
		t.Fatal(CfChannel("bench"))
	}
	// Zero ping interval: Centrifugo's default, not set.
	data, _ = CfConfig(18000, "h", "a", 0)
	if strings.Contains(string(data), "ping_interval") {
		t.Fatalf("ping_interval set: %s", data)
	}
	for _, bad := range []func() ([]byte, error){
		func() ([]byte, error) { return CfConfig(0, "h", "a", 0) },
		func() ([]byte, error) { return CfConfig(70000, "h", "a", 0) },
		func() ([]byte, error) { return CfConfig(1, "", "a", 0) },
		func() ([]byte, error) { return CfConfig(1, "h", "", 0) },
	} {
		if _, err := bad(); !errors.Is(err, ErrConfig) {
			t.Errorf("bad config accepted: %v", err)
		}
	}
}

func figs(p50, p99, cpu, rss, fin float64, complete bool) *Figures {
	return &Figures{P50MS: p50, P99MS: p99, ServerCPUUs: cpu, ServerRSSPerView: rss, FramesInPerMsg: fin, DeliveredPerS: 100, Delivered: 10, Expected: 10, Complete: complete}
}

func TestSummarizeRatios(t *testing.T) {
	r := &CompareReport{
		Config: CompareSettings{
			Rows:      []Row{{Viewers: 100, Rate: 1}, {Viewers: 1000, Rate: 200}},
			Repeats:   2,
			Encodings: []string{"binary", "json"},
			Servers:   []string{ServerRoomcast, ServerCentrifugo},
		},
		Runs: []CompareRun{
			{Row: "100@1", Server: ServerRoomcast, Encoding: "binary", Repeat: 1, Figures: figs(1, 4, 2, 1000, 1, true)},
			{Row: "100@1", Server: ServerRoomcast, Encoding: "binary", Repeat: 2, Figures: figs(3, 8, 4, 3000, 1, true)},
			{Row: "100@1", Server: ServerCentrifugo, Encoding: "binary", Repeat: 1, Figures: figs(2, 10, 8, 4000, 1, true)},
			{Row: "100@1", Server: ServerCentrifugo, Encoding: "binary", Repeat: 2, Figures: figs(2, 14, 4, 4000, 1, false)},
			// json: a failed centrifugo run does not count.
			{Row: "100@1", Server: ServerRoomcast, Encoding: "json", Repeat: 1, Figures: figs(5, 5, 5, 5, 2, true)},
			{Row: "100@1", Server: ServerCentrifugo, Encoding: "json", Repeat: 1, Error: "boom", Figures: figs(1, 1, 1, 1, 1, true)},
			{Row: "100@1", Server: ServerCentrifugo, Encoding: "json", Repeat: 2, Figures: figs(10, 10, 10, 10, 1, true)},
		},
	}
	r.Summarize()
	if len(r.Summary) != 4 {
		t.Fatalf("summary has %d entries", len(r.Summary))
	}
	s := r.Summary[0]
	rc, cf := s.Servers[ServerRoomcast], s.Servers[ServerCentrifugo]
	if s.Row != "100@1" || s.Encoding != "binary" || rc.Runs != 2 || cf.Runs != 2 {
		t.Fatalf("entry %+v", s)
	}
	if rc.P99MS != (Spread{Mean: 6, Min: 4, Max: 8}) || cf.P99MS != (Spread{Mean: 12, Min: 10, Max: 14}) {
		t.Fatalf("p99 spreads %+v %+v", rc.P99MS, cf.P99MS)
	}
	want := map[string]float64{"p50": 1, "p99": 0.5, "server_cpu_per_deliv": 0.5, "server_rss_per_view": 0.5, "frames_in_per_deliv": 1, "delivered_per_s": 1}
	for k, v := range want {
		if s.Ratios[k] != v {
			t.Errorf("ratio %s = %v, want %v", k, s.Ratios[k], v)
		}
	}
	if !rc.Complete || cf.Complete || cf.Delivered != 20 {
		t.Fatalf("complete rc %v cf %v delivered %d", rc.Complete, cf.Complete, cf.Delivered)
	}
	j := r.Summary[1]
	if j.Encoding != "json" || j.Servers[ServerCentrifugo].Runs != 1 || j.Ratios["p99"] != 0.5 || j.Ratios["frames_in_per_deliv"] != 2 {
		t.Fatalf("json entry %+v ratios %v", j, j.Ratios)
	}
	// No runs at all for the second row: no ratios.
	if e := r.Summary[2]; e.Row != "1000@200" || e.Ratios != nil || e.Servers[ServerRoomcast].Runs != 0 {
		t.Fatalf("empty entry %+v", e)
	}

	var tbl bytes.Buffer
	r.WriteTable(&tbl)
	out := tbl.String()
	for _, frag := range []string{
		"protobuf  2.0 (1.0-3.0) / 2.0",
		"6.0 (4.0-8.0) / 12.0 (10.0-14.0) (0.50x)",
		"20/20 INCOMPLETE",
		"1000@200",
		"FAILED 100@1 centrifugo json #1: boom",
	} {
		if !strings.Contains(out, frag) {
			t.Errorf("table lacks %q:\n%s", frag, out)
		}
	}
}

func TestCompareValidate(t *testing.T) {
	ok := CompareConfig{
		Rows: []Row{{Viewers: 10, Rate: 1}},
		Spec: ServerSpec{Roomcast: "/bin/roomcast", RoomcastConfig: "c.yaml", Centrifugo: "/bin/centrifugo", Dir: "/tmp"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]func(c *CompareConfig){
		"-rows":           func(c *CompareConfig) { c.Rows = nil },
		"-encodings":      func(c *CompareConfig) { c.Encodings = []string{"xml"} },
		"-servers":        func(c *CompareConfig) { c.Servers = []string{"nginx"} },
		"-roomcast":       func(c *CompareConfig) { c.Spec.Roomcast = "" },
		"-centrifugo":     func(c *CompareConfig) { c.Spec.Centrifugo = "" },
		"-dir":            func(c *CompareConfig) { c.Spec.Dir = "" },
		"--priority-rati": func(c *CompareConfig) { c.Base.PriorityRatio = 0.5 },
	} {
		bad := ok
		c(&bad)
		if err := bad.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Only Centrifugo: no roomcast binary needed.
	only := ok
	only.Servers, only.Spec.Roomcast = []string{ServerCentrifugo}, ""
	if err := only.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCentrifugoConfigValidation(t *testing.T) {
	base := Config{Server: ServerCentrifugo, APIKey: "k"}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	d := base.WithDefaults()
	if d.URLs[0] != DefaultCfURL || d.APIURL != DefaultCfAPIURL {
		t.Fatalf("defaults %v %v", d.URLs, d.APIURL)
	}
	for flag, mut := range map[string]func(c *Config){
		"--api-key":        func(c *Config) { c.APIKey = "" },
		"--priority-ratio": func(c *Config) { c.PriorityRatio = 0.1 },
		"--no-ack":         func(c *Config) { c.NoAck = true },
		"--api-url":        func(c *Config) { c.APIURL = "http://10.0.0.1/api" },
		"--server":         func(c *Config) { c.Server = "other" },
	} {
		c := base
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	// A ws URL is not an API URL, nor an http URL a WebSocket one.
	c := base
	c.APIURL = "ws://127.0.0.1:8000/api"
	if err := c.Validate(); err == nil {
		t.Error("ws API URL accepted")
	}
	c = base
	c.URLs = []string{"http://127.0.0.1:8000/connection/websocket"}
	if err := c.Validate(); err == nil {
		t.Error("http viewer URL accepted")
	}
}
