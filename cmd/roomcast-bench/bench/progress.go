package bench

import (
	"fmt"
	"io"
	"os"
)

// Progress is where the live progress line goes. With TTY set the line is
// redrawn in place; otherwise one line is written per update (logs, CI).
// The zero value shows nothing.
type Progress struct {
	W   io.Writer
	TTY bool
	any bool
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *Progress) show(format string, args ...any) {
	if p == nil || p.W == nil {
		return
	}
	p.any = true
	if p.TTY {
		fmt.Fprintf(p.W, "\r\033[K"+format, args...)
		return
	}
	fmt.Fprintf(p.W, format+"\n", args...)
}

// end finishes the in-place line.
func (p *Progress) end() {
	if p != nil && p.W != nil && p.TTY && p.any {
		fmt.Fprintln(p.W)
		p.any = false
	}
}

// bar draws a 20-cell bar of done/total.
func bar(done, total int64) string {
	const cells = 20
	n := 0
	if total > 0 {
		n = int(min(done*cells/total, cells))
	}
	b := make([]byte, cells)
	for i := range b {
		if i < n {
			b[i] = '#'
		} else {
			b[i] = '.'
		}
	}
	return "[" + string(b) + "]"
}

// si prints a count with a k/M suffix.
func si(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
