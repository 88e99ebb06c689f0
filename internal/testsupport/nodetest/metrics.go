package nodetest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape reads one counter or gauge from a node's /metrics over HTTP,
// summed over the label sets that match labels ("k=v" pairs). It fails the
// test when the node does not answer or does not export the metric.
func Scrape(t testing.TB, addr, name string, labels ...string) float64 {
	t.Helper()
	v, err := TryScrape(addr, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TryScrape is Scrape returning an error instead of failing.
func TryScrape(addr, name string, labels ...string) (float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", addr, err)
	}
	mf, ok := mfs[name]
	if !ok {
		return 0, fmt.Errorf("metric %s not exported by %s", name, addr)
	}
	sum := 0.0
next:
	for _, m := range mf.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.GetLabel() {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			sum += c.GetValue()
		} else if hs := m.GetHistogram(); hs != nil {
			sum += float64(hs.GetSampleCount())
		} else {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum, nil
}
