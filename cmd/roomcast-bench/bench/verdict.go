package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// The storm verdict: issue 15's "Done when" checked on pairs of runs of
// the same load, one chat only and one with the like and gift storm
// (docs/load-tool.md, "The storm verdict").

// Tolerance is how far a storm run's chat delivery, p99 and server CPU per
// delivered chat message may be from its chat-only partner's: 20 %.
const Tolerance = 0.2

// ErrPair: two reports that are not a chat-only run and a storm run of
// the same load.
var ErrPair = errors.New("bench: not a chat-only and storm pair")

// Check is one criterion on one pair of runs.
type Check struct {
	Name  string  `json:"name"`
	Met   bool    `json:"met"`
	Ratio float64 `json:"ratio,omitempty"` // storm / chat only, where the criterion is a ratio
	Value string  `json:"value"`           // what was measured, in words
}

// The criteria, in the order Checks gives them.
const (
	CheckGifts   = "every gift reaches every viewer"
	CheckChat    = "chat delivered within 20 %"
	CheckP99     = "p99 latency within 20 %"
	CheckCPU     = "server CPU per delivered chat message within 20 %"
	CheckLikes   = "like totals seen = likes accepted"
	CheckCapped  = "capped viewers get no more than their cap, and every gift"
	checkServer  = "the server's part of the p99 (owner to socket), for information"
	serverSuffix = " (--kernel-times)"
	checkLate    = "Notifies the tool read late (with the next one), chat only / storm, for information"
	checkSteady  = "the p99 of what was read after the start (steady_latency_ms), pair by pair, for information"
)

// StormPairs says how to run the pairs of the storm verdict.
type StormPairs struct {
	// Load is every run's load; its LikeRate and GiftRate are the storm
	// runs' (the chat-only runs have none). URLs and ServerPIDs are set
	// per run.
	Load  Config
	Pairs int
	// Spec starts a fresh roomcast node per run (Roomcast, RoomcastConfig,
	// Dir, Environ).
	Spec ServerSpec
}

// RunStormPairs runs Pairs pairs, chat only then storm, each run on a
// fresh node, and reports each run's outcome to log. It returns the
// reports in order (chats[i] pairs with storms[i]).
func RunStormPairs(ctx context.Context, sp StormPairs, prog *Progress, log io.Writer) (chats, storms []*Report, err error) {
	if sp.Pairs < 1 {
		return nil, nil, fmt.Errorf("%w: pairs: want at least 1, got %d", ErrConfig, sp.Pairs)
	}
	if sp.Load.LikeRate <= 0 || sp.Load.GiftRate <= 0 {
		return nil, nil, fmt.Errorf("%w: the storm runs need a like rate and a gift rate", ErrConfig)
	}
	for i := 1; i <= sp.Pairs; i++ {
		for _, storm := range []bool{false, true} {
			tag := fmt.Sprintf("chat-%d", i)
			c := sp.Load
			if storm {
				tag = fmt.Sprintf("storm-%d", i)
			} else {
				c.LikeRate, c.GiftRate, c.Likers, c.Gifters = 0, 0, 0, 0
			}
			c.RoomPrefix = sp.Load.RoomPrefix + "-" + tag
			r, stopErr, err := runOnFreshServer(ctx, sp.Spec, ServerRoomcast, tag, c, prog)
			if err == nil && r != nil && r.Server.Processes[0].Error != "" {
				err = fmt.Errorf("bench: %s: server process: %s", tag, r.Server.Processes[0].Error)
			}
			if err == nil {
				err = stopErr
			}
			if err != nil {
				return chats, storms, fmt.Errorf("%s: %w", tag, err)
			}
			fmt.Fprintf(log, "%s: p99 %.0f ms, server %.2f s CPU, %d chat messages delivered\n", tag, r.LatencyMS.P99, r.Server.CPURunS, r.Delivery.Normal)
			if storm {
				storms = append(storms, r)
			} else {
				chats = append(chats, r)
			}
		}
	}
	return chats, storms, nil
}

// PairChecks checks one pair: chat is the chat-only run, storm the same
// load with likes and gifts (and capped viewers in both). The p99 is of
// every delivered message: chat only in the first run, chat and gifts in
// the second (the report has no chat-only histogram).
func PairChecks(chat, storm *Report) ([]Check, error) {
	if chat == nil || storm == nil {
		return nil, fmt.Errorf("%w: a report is missing", ErrPair)
	}
	if s := chat.Storm; s != nil && (s.LikeRatePerS > 0 || s.GiftRatePerS > 0) {
		return nil, fmt.Errorf("%w: the first run has likes or gifts", ErrPair)
	}
	st := storm.Storm
	if st == nil || st.LikeRatePerS == 0 || st.GiftRatePerS == 0 {
		return nil, fmt.Errorf("%w: the second run has no like and gift storm", ErrPair)
	}
	if chat.Config.Viewers != storm.Config.Viewers || chat.Config.Rate != storm.Config.Rate {
		return nil, fmt.Errorf("%w: %d viewers at %g msg/s against %d at %g", ErrPair,
			chat.Config.Viewers, chat.Config.Rate, storm.Config.Viewers, storm.Config.Rate)
	}
	cd, sd := chat.Delivery, storm.Delivery
	var out []Check

	gifts := st.GiftsAccepted > 0 && st.GiftsAccepted == st.GiftsSent && sd.Priority == sd.PriorityExpected
	out = append(out, Check{Name: CheckGifts, Met: gifts,
		Value: fmt.Sprintf("%d of %d (gifts accepted %d of %d sent)", sd.Priority, sd.PriorityExpected, st.GiftsAccepted, st.GiftsSent)})

	r := ratio(float64(sd.Normal), float64(cd.Normal))
	out = append(out, Check{Name: CheckChat, Met: cd.Normal > 0 && within(r), Ratio: r,
		Value: fmt.Sprintf("%d against %d", sd.Normal, cd.Normal)})

	r = ratio(storm.LatencyMS.P99, chat.LatencyMS.P99)
	out = append(out, Check{Name: CheckP99, Met: chat.LatencyMS.Samples > 0 && r <= 1+Tolerance, Ratio: r,
		Value: fmt.Sprintf("%.0f ms against %.0f ms", storm.LatencyMS.P99, chat.LatencyMS.P99)})

	cc, sc := perChat(chat), perChat(storm)
	r = ratio(sc, cc)
	out = append(out, Check{Name: CheckCPU, Met: cc > 0 && sc > 0 && r <= 1+Tolerance, Ratio: r,
		Value: fmt.Sprintf("%.3f µs against %.3f µs", sc, cc)})

	likes := st.LikesAccepted > 0 && st.ViewersReporting > 0 && st.ViewersAtAccepted == st.ViewersReporting
	out = append(out, Check{Name: CheckLikes, Met: likes,
		Value: fmt.Sprintf("%d of %d viewers at %d likes accepted (%d sent)", st.ViewersAtAccepted, st.ViewersReporting, st.LikesAccepted, st.LikesSent)})

	// Every viewer, capped or not, is owed every priority message.
	perViewer := sd.PriorityExpected / uint64(max(storm.Connect.Established, 1))
	capped := st.Capped > 0 && float64(st.CappedNormalMax) <= st.AllowedNormal && st.CappedPrioMin == perViewer
	out = append(out, Check{Name: CheckCapped, Met: capped,
		Value: fmt.Sprintf("%d capped at %d/s: at most %d chat messages (the cap allows %.0f), gifts %d-%d each",
			st.Capped, st.CapRate, st.CappedNormalMax, st.AllowedNormal, st.CappedPrioMin, st.CappedPrioMax)})
	return out, nil
}

// perChat is the server's CPU per delivered chat message, µs (0: unknown).
func perChat(r *Report) float64 {
	if r.Delivery.Normal == 0 || r.Server.CPURunS <= 0 {
		return 0
	}
	return r.Server.CPURunS / float64(r.Delivery.Normal) * 1e6
}

func within(r float64) bool { return r >= 1-Tolerance && r <= 1+Tolerance }

// StormVerdict is the storm subcommand's result: every pair's checks,
// and per criterion whether every pair met it.
type StormVerdict struct {
	Pairs [][]Check `json:"pairs"`
	// Met: the criterion held in every pair; Ratios are its ratios pair by
	// pair, sorted (for the ratio criteria).
	Summary []CheckSummary `json:"summary"`
	// ServerP99 are the pairs' ratios of the server's part of the p99
	// (owner_to_socket_ms), sorted, when both runs had --kernel-times.
	ServerP99 []float64 `json:"server_p99_ratios,omitempty"`
	// LateShares are each pair's Delivery.LateShare, chat-only run then
	// storm run: how far the tool itself fell behind reading its viewers
	// (a late read also stretches owner_to_socket_ms: a read's stamp is
	// its last byte's).
	LateShares [][2]float64 `json:"late_notify_shares"`
	// SteadyP99 are the pairs' ratios of the p99 of what was read after
	// the start (SteadyLatencyMS), in pair order, when both runs have it.
	SteadyP99 []float64 `json:"steady_p99_ratios,omitempty"`
	Met       bool      `json:"met"` // every criterion in every pair
}

// CheckSummary is one criterion over every pair.
type CheckSummary struct {
	Name   string    `json:"name"`
	Met    bool      `json:"met"`
	Pairs  int       `json:"pairs_met"`
	Ratios []float64 `json:"ratios,omitempty"`
}

// Verdict checks every pair (chats[i] with storms[i]).
func Verdict(chats, storms []*Report) (*StormVerdict, error) {
	if len(chats) == 0 || len(chats) != len(storms) {
		return nil, fmt.Errorf("%w: %d chat-only and %d storm runs", ErrPair, len(chats), len(storms))
	}
	v := &StormVerdict{Met: true}
	for i := range chats {
		checks, err := PairChecks(chats[i], storms[i])
		if err != nil {
			return nil, fmt.Errorf("pair %d: %w", i+1, err)
		}
		v.Pairs = append(v.Pairs, checks)
		v.LateShares = append(v.LateShares, [2]float64{chats[i].Delivery.LateShare, storms[i].Delivery.LateShare})
		if a, b := chats[i].SteadyLatencyMS, storms[i].SteadyLatencyMS; a != nil && b != nil && a.Samples > 0 && b.Samples > 0 {
			v.SteadyP99 = append(v.SteadyP99, ratio(b.P99, a.P99))
		}
		if a, b := chats[i].OwnerLatencyMS, storms[i].OwnerLatencyMS; a != nil && b != nil && a.Samples > 0 && b.Samples > 0 {
			v.ServerP99 = append(v.ServerP99, ratio(b.P99, a.P99))
		}
	}
	for k, c := range v.Pairs[0] {
		s := CheckSummary{Name: c.Name, Met: true}
		for _, p := range v.Pairs {
			if p[k].Met {
				s.Pairs++
			} else {
				s.Met = false
			}
			if p[k].Ratio != 0 {
				s.Ratios = append(s.Ratios, p[k].Ratio)
			}
		}
		slices.Sort(s.Ratios)
		v.Met = v.Met && s.Met
		v.Summary = append(v.Summary, s)
	}
	if len(v.ServerP99) != len(v.Pairs) {
		v.ServerP99 = nil
	}
	if len(v.SteadyP99) != len(v.Pairs) {
		v.SteadyP99 = nil
	}
	slices.Sort(v.ServerP99)
	return v, nil
}

// WriteTable prints the verdict: each pair's checks, then each criterion
// over all pairs.
func (v *StormVerdict) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, p := range v.Pairs {
		fmt.Fprintf(tw, "pair %d\t\t\n", i+1)
		for _, c := range p {
			fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", c.Name, metStr(c.Met), c.Value, ratioStr(c.Ratio))
		}
	}
	fmt.Fprintf(tw, "over %d pairs\t\t\n", len(v.Pairs))
	for _, s := range v.Summary {
		fmt.Fprintf(tw, "  %s\t%s\tin %d of %d pairs%s\n", s.Name, metStr(s.Met), s.Pairs, len(v.Pairs), ratiosStr(s.Ratios))
	}
	fmt.Fprintf(tw, "verdict\t%s\t\n", metStr(v.Met))
	tw.Flush()
	if len(v.ServerP99) > 0 {
		fmt.Fprintf(w, "%s%s: %s\n", checkServer, serverSuffix, strings.TrimPrefix(ratiosStr(v.ServerP99), ", "))
	}
	late := make([]string, len(v.LateShares))
	for i, l := range v.LateShares {
		late[i] = fmt.Sprintf("%.2f%% / %.2f%%", 100*l[0], 100*l[1])
	}
	fmt.Fprintf(w, "%s: %s\n", checkLate, strings.Join(late, ", "))
	if len(v.SteadyP99) > 0 {
		fmt.Fprintf(w, "%s: %s\n", checkSteady, strings.TrimPrefix(ratiosStr(v.SteadyP99), ", "))
	}
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func ratioStr(r float64) string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2fx)", r)
}

func ratiosStr(rs []float64) string {
	if len(rs) == 0 {
		return ""
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return ", ratios " + strings.Join(parts, " ") + "x"
}
