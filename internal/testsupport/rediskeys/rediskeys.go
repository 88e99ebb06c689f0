package rediskeys

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Row is one row of the table: a key (or channel) pattern and the package
// that writes it.
type Row struct {
	Pattern string // as documented, e.g. {r:<room>}:meta
	Writer  string // the package, e.g. room
	re      *regexp.Regexp
}

// placeholders are what each <name> of a pattern stands for. An unknown
// placeholder fails Load: the table and this list stay in step.
var placeholders = map[string]string{
	"room":          `[^{}]+`,
	"conv":          `[dg]:[^{}]+`,
	"user":          `[^{}]+`,
	"node":          `[^{}]+`,
	"sender":        `[^|]+`,
	"client_msg_id": `.+`,
}

// Load reads the table of docs/redis-keys.md; prefix is the key prefix the
// workload used (redis.key_prefix).
func Load(t testing.TB, prefix string) []Row {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "redis-keys.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	ph := regexp.MustCompile(`<([a-z_]+)>`)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			t.Fatalf("docs/redis-keys.md: row %q has %d cells, want 5", line, len(cells))
		}
		pat := strings.Trim(cells[0], "`")
		pat = strings.ReplaceAll(pat, `\|`, "|")
		writer := strings.Trim(cells[4], "`")
		var re strings.Builder
		re.WriteString("^" + regexp.QuoteMeta(prefix))
		last := 0
		for _, m := range ph.FindAllStringSubmatchIndex(pat, -1) {
			sub, ok := placeholders[pat[m[2]:m[3]]]
			if !ok {
				t.Fatalf("docs/redis-keys.md: unknown placeholder %s in %s", pat[m[0]:m[1]], pat)
			}
			re.WriteString(regexp.QuoteMeta(pat[last:m[0]]) + sub)
			last = m[1]
		}
		re.WriteString(regexp.QuoteMeta(pat[last:]) + "$")
		rows = append(rows, Row{Pattern: pat, Writer: writer, re: regexp.MustCompile(re.String())})
	}
	if len(rows) == 0 {
		t.Fatal("docs/redis-keys.md: no table rows")
	}
	return rows
}

// splitRow splits a Markdown table row on | outside backticks and escapes.
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	code := false
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case c == '`':
			code = !code
			cur.WriteByte(c)
		case c == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// Check fails t if a name (a key or channel the workload wrote) matches no
// row, or matches a row of another writer, or if a row of writer matched
// no name: the table lists every key the package writes and nothing it
// does not.
func Check(t testing.TB, rows []Row, writer string, names []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		var hit []Row
		for _, r := range rows {
			if r.re.MatchString(n) {
				hit = append(hit, r)
			}
		}
		switch {
		case len(hit) == 0:
			t.Errorf("%s wrote %q, which no row of docs/redis-keys.md names", writer, n)
		case len(hit) > 1:
			t.Errorf("%q matches %d rows of docs/redis-keys.md (%s, %s)", n, len(hit), hit[0].Pattern, hit[1].Pattern)
		case hit[0].Writer != writer:
			t.Errorf("%s wrote %q, which docs/redis-keys.md gives to %s", writer, n, hit[0].Writer)
		default:
			seen[hit[0].Pattern] = true
		}
	}
	for _, r := range rows {
		if r.Writer == writer && !seen[r.Pattern] {
			t.Errorf("docs/redis-keys.md lists %s for %s, but the workload wrote no such key (%v)", r.Pattern, writer, names)
		}
	}
}

// Keys lists every key of rdb (SCAN), sorted.
func Keys(t testing.TB, rdb redis.UniversalClient) []string {
	t.Helper()
	var out []string
	ctx := context.Background()
	add := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "*", 100).Iterator()
		for it.Next(ctx) {
			out = append(out, it.Val())
		}
		return it.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // ForEachMaster calls in parallel
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return add(ctx, m)
		})
	case *redis.Client:
		err = add(ctx, c)
	default:
		t.Fatalf("rediskeys: client %T", rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
