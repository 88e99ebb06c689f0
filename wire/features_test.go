package wire

import (
	"slices"
	"testing"
)

func TestParseFeatures(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"room_count"}, []string{"room_count"}},
		{[]string{"later_kind", " room_count "}, []string{"room_count"}}, // unknown names ignored
		{[]string{"x,room_count"}, []string{"room_count"}},               // a URL's comma list
		{[]string{"", ","}, nil},
		{[]string{"counters_on_request,room_count"}, []string{"room_count", "counters_on_request"}},
	} {
		if got := ParseFeatures(c.in...).Names(); !slices.Equal(got, c.want) {
			t.Errorf("ParseFeatures(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if Features(0).Has(FeatureRoomCount) || !FeatureRoomCount.Has(FeatureRoomCount) {
		t.Fatal("Has")
	}
}
