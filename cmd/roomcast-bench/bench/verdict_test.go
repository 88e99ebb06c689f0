package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// stormPair is a chat-only and a storm report of 1,000 viewers that meet
// every criterion.
func stormPair() (chat, storm *Report) {
	chat = &Report{Config: ReportConfig{Viewers: 1000, Rate: 200}, Connect: Connect{Established: 1000}}
	chat.Delivery.Normal = 4_000_000
	chat.LatencyMS = Latency{Samples: 4_000_000, P99: 500}
	chat.Server.CPURunS = 1.6
	chat.Storm = &Storm{Capped: 10, CapRate: 10, CappedNormalMax: 200, AllowedNormal: 250}
	storm = &Report{Config: ReportConfig{Viewers: 1000, Rate: 200}, Connect: Connect{Established: 1000}}
	storm.Delivery.Normal, storm.Delivery.Priority, storm.Delivery.PriorityExpected = 3_900_000, 400_000, 400_000
	storm.LatencyMS = Latency{Samples: 4_300_000, P99: 590}
	storm.Server.CPURunS = 1.7
	storm.Storm = &Storm{LikeRatePerS: 20000, GiftRatePerS: 20, GiftsSent: 400, GiftsAccepted: 400,
		LikesSent: 400_000, LikesAccepted: 400_000, ViewersReporting: 1000, ViewersAtAccepted: 1000,
		Capped: 10, CapRate: 10, CappedNormalMax: 210, AllowedNormal: 250, CappedPrioMin: 400, CappedPrioMax: 400}
	return chat, storm
}

func metOf(t *testing.T, checks []Check) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, c := range checks {
		m[c.Name] = c.Met
	}
	return m
}

// Each criterion of issue 15's "Done when" is met by a pair that meets
// it and fails on its own when only its figure is off.
func TestPairChecksEachCriterion(t *testing.T) {
	chat, storm := stormPair()
	checks, err := PairChecks(chat, storm)
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range metOf(t, checks) {
		if !ok {
			t.Errorf("%s: not met by a pair that meets it", name)
		}
	}
	for _, tc := range []struct {
		want  string
		spoil func(c, s *Report)
	}{
		{CheckGifts, func(_, s *Report) { s.Delivery.Priority-- }},
		{CheckGifts, func(_, s *Report) { s.Storm.GiftsAccepted = 399 }},
		{CheckChat, func(_, s *Report) { s.Delivery.Normal, s.Server.CPURunS = 3_100_000, 1.3 }},
		{CheckP99, func(_, s *Report) { s.LatencyMS.P99 = 601 }},
		{CheckCPU, func(_, s *Report) { s.Server.CPURunS = 2.0 }},
		{CheckCPU, func(c, _ *Report) { c.Server.CPURunS = 0 }},
		{CheckLikes, func(_, s *Report) { s.Storm.ViewersAtAccepted = 999 }},
		{CheckCapped, func(_, s *Report) { s.Storm.CappedNormalMax = 251 }},
		{CheckCapped, func(_, s *Report) { s.Storm.CappedPrioMin = 399 }},
		{CheckCapped, func(_, s *Report) { s.Storm.Capped = 0 }},
	} {
		c, s := stormPair()
		tc.spoil(c, s)
		checks, err := PairChecks(c, s)
		if err != nil {
			t.Fatal(err)
		}
		for name, ok := range metOf(t, checks) {
			if ok == (name == tc.want) {
				t.Errorf("spoiling %s: %s met = %v", tc.want, name, ok)
			}
		}
	}
}

func TestPairChecksRefusesWhatIsNotAPair(t *testing.T) {
	for name, spoil := range map[string]func(c, s *Report){
		"chat run with likes": func(c, _ *Report) { c.Storm.LikeRatePerS = 1 },
		"storm without gifts": func(_, s *Report) { s.Storm.GiftRatePerS = 0 },
		"storm missing":       func(_, s *Report) { s.Storm = nil },
		"other viewers":       func(_, s *Report) { s.Config.Viewers = 999 },
		"other rate":          func(_, s *Report) { s.Config.Rate = 100 },
	} {
		c, s := stormPair()
		spoil(c, s)
		if _, err := PairChecks(c, s); !errors.Is(err, ErrPair) {
			t.Errorf("%s: %v, want ErrPair", name, err)
		}
	}
	if _, err := Verdict([]*Report{{}}, nil); !errors.Is(err, ErrPair) {
		t.Errorf("unpaired runs: %v", err)
	}
}

// The verdict holds a criterion as met only when every pair met it, and
// the table says which pair missed.
func TestVerdictNeedsEveryPair(t *testing.T) {
	c1, s1 := stormPair()
	c2, s2 := stormPair()
	s2.LatencyMS.P99 = 1000
	s2.Delivery.LateShare = 0.125 // its tool fell behind: said, not judged
	for _, r := range []*Report{c1, c2, s1} {
		r.SteadyLatencyMS = &Latency{Samples: 100, P99: 400}
	}
	s2.SteadyLatencyMS = &Latency{Samples: 100, P99: 440}
	v, err := Verdict([]*Report{c1, c2}, []*Report{s1, s2})
	if err != nil {
		t.Fatal(err)
	}
	if v.Met {
		t.Fatal("verdict met with a pair whose p99 doubled")
	}
	for _, s := range v.Summary {
		if (s.Name == CheckP99) == s.Met {
			t.Errorf("%s: met %v in %d pairs", s.Name, s.Met, s.Pairs)
		}
		if s.Name == CheckP99 && (s.Pairs != 1 || len(s.Ratios) != 2 || s.Ratios[1] != 2) {
			t.Errorf("p99 summary %+v", s)
		}
	}
	var b bytes.Buffer
	v.WriteTable(&b)
	if len(v.LateShares) != 2 || v.LateShares[1] != [2]float64{0, 0.125} {
		t.Errorf("late shares %v", v.LateShares)
	}
	if len(v.SteadyP99) != 2 || v.SteadyP99[0] != 1 || v.SteadyP99[1] != 1.1 || !strings.Contains(b.String(), "steady_latency_ms), pair by pair, for information: ratios 1.00 1.10x") {
		t.Errorf("steady ratios %v; table:\n%s", v.SteadyP99, b.String())
	}
	if !strings.Contains(b.String(), "NOT MET  1000 ms against 500 ms (2.00x)") || !strings.Contains(b.String(), "in 1 of 2 pairs") ||
		!strings.Contains(b.String(), "0.00% / 0.00%, 0.00% / 12.50%") {
		t.Errorf("table:\n%s", b.String())
	}
	v, err = Verdict([]*Report{c1}, []*Report{s1})
	if err != nil || !v.Met {
		t.Fatalf("a pair meeting everything: met %v, %v", v.Met, err)
	}
}
