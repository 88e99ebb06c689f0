package filter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	f, err := New([]Entry{
		{Word: "darn", Action: Mask},
		{Word: "spam", Action: Block},
		{Word: "ass", Action: Mask, WholeWord: true},
		{Word: "he", Action: Mask},
		{Word: "she", Action: Mask},
		{Word: "hers", Action: Mask},
		{Word: "脏话", Action: Mask},
		{Word: "scam", Action: Hold},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, text string
		action   Action
		matches  int
	}{
		{"hello world", "**llo world", Mask, 1},
		{"a clean line", "a clean line", "", 0},
		{"DARN it", "**** it", Mask, 1},
		{"buy SPAM now, darn", "buy SPAM now, darn", Block, 2},
		{"first class", "first class", "", 0},
		{"you ass!", "you ***!", Mask, 1},
		{"ushers", "u*****", Mask, 3}, // she, he, hers overlap
		{"说脏话了", "说**了", Mask, 1},
		{"", "", "", 0},
		{"a scam", "a scam", Hold, 1},
		{"darn scam", "**** scam", Hold, 2},  // held, masked words stay masked
		{"scam spam", "scam spam", Block, 2}, // block over hold
	} {
		v := f.Check(tc.in)
		if v.Action != tc.action || v.Matches != tc.matches || (tc.action != Block && v.Text != tc.text) {
			t.Errorf("Check(%q) = %+v, want action %q text %q matches %d", tc.in, v, tc.action, tc.text, tc.matches)
		}
	}
	for in, want := range map[string][3]any{"a scam": {"a scam", false, true}, "spam": {"spam", true, false}, "darn": {"****", false, false}} {
		out, blocked, held := f.Judge(in)
		if out != want[0] || blocked != want[1] || held != want[2] {
			t.Errorf("Judge(%q) = %q, %v, %v; want %v", in, out, blocked, held, want)
		}
	}
	var none *Filter
	if v := none.Check("spam"); v.Action != "" || v.Text != "spam" || none.Len() != 0 {
		t.Fatalf("nil filter: %+v", v)
	}
}

func TestNewRefusesBadEntries(t *testing.T) {
	for _, e := range []Entry{
		{Word: "", Action: Mask},
		{Word: strings.Repeat("x", MaxWordBytes+1), Action: Mask},
		{Word: "x", Action: "hide"},
	} {
		if _, err := New([]Entry{{Word: "ok", Action: Mask}, e}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "words[1]") {
			t.Errorf("New(%+v) = %v, want ErrInvalid naming words[1]", e, err)
		}
	}
}

func TestNewRefusesTooManyWords(t *testing.T) {
	if _, err := New(make([]Entry, MaxWords+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%d words: %v", MaxWords+1, err)
	}
}

// TestMatchesLikeNaive compares the automaton with a naive substring
// search on random words and texts over a small alphabet (many overlaps).
func TestMatchesLikeNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abAB"[r.IntN(4)]
		}
		return string(b)
	}
	for round := 0; round < 200; round++ {
		var entries []Entry
		for i := 0; i < 1+r.IntN(8); i++ {
			a := Mask
			if r.IntN(4) == 0 {
				a = Block
			}
			entries = append(entries, Entry{Word: word(1 + r.IntN(4)), Action: a})
		}
		f, err := New(entries)
		if err != nil {
			t.Fatal(err)
		}
		text := word(r.IntN(30))
		got := f.Check(text)
		lower := strings.ToLower(text)
		want := Verdict{Text: text}
		mask := make([]bool, len(text))
		for _, e := range entries {
			w := strings.ToLower(e.Word)
			for i := 0; i+len(w) <= len(lower); i++ {
				if lower[i:i+len(w)] == w {
					want.Matches++
					if e.Action.rank() > want.Action.rank() {
						want.Action = e.Action
					}
					if e.Action == Mask {
						for j := i; j < i+len(w); j++ {
							mask[j] = true
						}
					}
				}
			}
		}
		if want.Action == Mask {
			want.Text = masked(text, mask)
		}
		if got != want {
			t.Fatalf("round %d: words %v text %q: got %+v, want %+v", round, entries, text, got, want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "words.yaml")
	if err := os.WriteFile(path, []byte("words:\n  - {word: darn, action: mask}\n  - {word: spam, action: block, whole_word: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil || f.Len() != 2 || f.Check("spam").Action != Block {
		t.Fatalf("Load: %v, %d words", err, f.Len())
	}
	if err := os.WriteFile(path, []byte("words:\n  - {word: x, action: shout}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad action: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

// thousandWords is a 1,000-word list of the benchmark: random 4-10 letter
// words, a tenth of them block, the rest mask.
func thousandWords() []Entry {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]Entry, 1000)
	for i := range out {
		b := make([]byte, 4+r.IntN(7))
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		out[i] = Entry{Word: string(b), Action: Mask}
		if i%10 == 0 {
			out[i].Action = Block
		}
	}
	return out
}

// BenchmarkCheck1000Words: one chat line (about 60 bytes, no match, the
// common case) and one 4 KiB body against 1,000 words.
func BenchmarkCheck1000Words(b *testing.B) {
	f, err := New(thousandWords())
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{60, 4096} {
		text := strings.Repeat("the quick brown fox jumps over the lazy dog ", size/44+1)[:size]
		b.Run(fmt.Sprint(size, "B"), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if v := f.Check(text); v.Action == Block {
					b.Fatal("blocked")
				}
			}
		})
	}
}
