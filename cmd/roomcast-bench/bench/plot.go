package bench

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrPlotFormat is returned for a plot file that is neither .png nor .svg.
var ErrPlotFormat = errors.New("bench: plot file must end in .png or .svg")

// PlotFormat checks the file name of --plot.
func PlotFormat(file string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	}
	return "", ErrPlotFormat
}

// WritePlot draws the latency of r into file (.png or .svg, by its
// extension): on top the latency by percentile (HdrHistogram style), below
// p50 and p99 of every second of the run.
func (r *Report) WritePlot(file string) error {
	format, err := PlotFormat(file)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("roomcast-bench %s: %d viewers, %d room(s), %.0f msg/s", r.Mode, r.Config.Viewers, r.Config.Rooms, r.Config.Rate)
	if r.Virtual {
		title = "VIRTUAL (in process, no sockets) - " + title
	}

	top := plot.New()
	top.Title.Text = title
	top.X.Label.Text = "percentile"
	top.Y.Label.Text = "end-to-end latency (ms)"
	top.X.Scale = plot.LogScale{}
	top.X.Tick.Marker = percentileTicks{}
	top.Add(plotter.NewGrid())
	var pts plotter.XYs
	if r.latency != nil && r.latency.TotalCount() > 0 {
		for _, b := range r.latency.CumulativeDistributionWithTicks(5) {
			q := math.Min(b.Quantile, 99.9999)
			pts = append(pts, plotter.XY{X: 1 / (1 - q/100), Y: float64(b.ValueAt) / 1000})
		}
	}
	if len(pts) == 0 {
		pts = plotter.XYs{{X: 1, Y: 0}, {X: 10, Y: 0}}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	line.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	line.Width = vg.Points(1.5)
	top.Add(line)

	bottom := plot.New()
	bottom.X.Label.Text = "seconds since publishing started"
	bottom.Y.Label.Text = "latency per second (ms)"
	bottom.Add(plotter.NewGrid())
	bottom.Legend.Top = true
	for _, s := range []struct {
		name string
		y    func(Tick) float64
		c    color.Color
	}{
		{"p50", func(t Tick) float64 { return t.P50MS }, color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}},
		{"p99", func(t Tick) float64 { return t.P99MS }, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
	} {
		var xy plotter.XYs
		for _, t := range r.Timeline {
			xy = append(xy, plotter.XY{X: t.T, Y: s.y(t)})
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = s.c
		l.Width = vg.Points(1.5)
		bottom.Add(l)
		bottom.Legend.Add(s.name, l)
	}

	const w, h = 20 * vg.Centimeter, 20 * vg.Centimeter
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return err
	}
	plots := [][]*plot.Plot{{top}, {bottom}}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, draw.New(c))
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// percentileTicks labels a 1/(1-q) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range []struct {
		x     float64
		label string
	}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1000, "99.9%"}, {10000, "99.99%"}, {100000, "99.999%"}} {
		if t.x >= lo && t.x <= hi {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	return ticks
}
