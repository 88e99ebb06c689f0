package faults

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

// Traffic categories whose recovery is measured.
const (
	catLive     = "live"
	catPriority = "priority"
	catDirect   = "1:1"
	catGroup    = "group"
)

var categories = []string{catLive, catPriority, catDirect, catGroup}

// recoveryRecord is how long each category took to recover from a fault.
type recoveryRecord struct {
	fault string
	took  map[string]time.Duration
}

// recoveryTimeout bounds how long a category may take to recover.
const recoveryTimeout = 60 * time.Second

// marks are the newest acked seqs of each stream when a fault began (or
// ended): a stream has recovered when every client that follows it has
// received something newer.
type marks struct {
	normal, priority map[string]uint64 // room -> seq
	direct           map[string]uint64 // conv -> seq
	group            uint64
}

func (s *suite) mark() marks {
	m := marks{normal: map[string]uint64{}, priority: map[string]uint64{}, direct: map[string]uint64{}}
	for _, r := range s.rooms {
		m.normal[r], m.priority[r] = s.normal[r].last(), s.priority[r].last()
	}
	for _, pr := range s.direct {
		m.direct[pr.conv] = s.directLogs.get(pr.conv).last()
	}
	m.group = s.groupLogs.get(groupConv).last()
	return m
}

// maxConvSeq is the highest seq of conv that v received from someone
// else.
func maxConvSeq(v *nodetest.Viewer, conv string) uint64 {
	var hi uint64
	for _, m := range v.Conv(conv) {
		if m.From != v.User {
			hi = max(hi, m.Seq)
		}
	}
	return hi
}

// recovered reports whether category cat has made progress past m.
func (s *suite) recovered(cat string, m marks) bool {
	switch cat {
	case catLive, catPriority:
		for _, v := range s.viewers {
			for _, r := range s.rooms {
				seq, pseq, ok := v.Cursors(r)
				if !ok || (cat == catLive && seq <= m.normal[r]) || (cat == catPriority && pseq <= m.priority[r]) {
					return false
				}
			}
		}
	case catDirect:
		for _, pr := range s.direct {
			if maxConvSeq(pr.to, pr.conv) <= m.direct[pr.conv] {
				return false
			}
		}
	case catGroup:
		for _, v := range s.members {
			if maxConvSeq(v, groupConv) <= m.group {
				return false
			}
		}
	}
	return true
}

// awaitRecovery waits until every category recovered past the marks taken
// at since, and records how long each took (from since).
func (s *suite) awaitRecovery(fault string, since time.Time, m marks) {
	s.t.Helper()
	rec := recoveryRecord{fault: fault, took: map[string]time.Duration{}}
	deadline := since.Add(recoveryTimeout)
	for len(rec.took) < len(categories) {
		for _, cat := range categories {
			if _, done := rec.took[cat]; !done && s.recovered(cat, m) {
				rec.took[cat] = time.Since(since)
			}
		}
		if time.Now().After(deadline) {
			var late []string
			for _, cat := range categories {
				if _, done := rec.took[cat]; !done {
					late = append(late, cat)
				}
			}
			s.t.Fatalf("%s: %v traffic not recovered after %v", fault, late, recoveryTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.recovery = append(s.recovery, rec)
	s.mu.Unlock()
	var parts []string
	for _, cat := range categories {
		parts = append(parts, fmt.Sprintf("%s %v", cat, rec.took[cat].Round(time.Millisecond)))
	}
	s.t.Logf("recovered from %s: %s", fault, strings.Join(parts, ", "))
}

// report logs the recovery times by fault and category (one row per
// fault; min / median / max over a soak's cycles).
func (s *suite) report() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var faults []string
	by := map[string]map[string][]time.Duration{}
	for _, r := range s.recovery {
		if by[r.fault] == nil {
			by[r.fault] = map[string][]time.Duration{}
			faults = append(faults, r.fault)
		}
		for cat, d := range r.took {
			by[r.fault][cat] = append(by[r.fault][cat], d)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | %s |\n|---|%s\n", strings.Join(categories, " | "), strings.Repeat("---|", len(categories)))
	for _, f := range faults {
		fmt.Fprintf(&b, "| %s |", f)
		for _, cat := range categories {
			ds := by[f][cat]
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
			if len(ds) == 1 {
				fmt.Fprintf(&b, " %s |", r(ds[0]))
			} else {
				fmt.Fprintf(&b, " %s / %s / %s |", r(ds[0]), r(ds[len(ds)/2]), r(slices.Max(ds)))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
