package filter

import (
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Action is what a match does to a message.
type Action string

// Actions, weakest first: a message matching several words takes the
// strongest.
const (
	// Mask replaces each matched word with '*' (one per character).
	Mask Action = "mask"
	// Hold accepts the message but shows it to its sender only (masked
	// words stay masked).
	Hold Action = "hold"
	// Block refuses the message (a typed error to the sender).
	Block Action = "block"
)

func (a Action) rank() int {
	switch a {
	case Mask:
		return 1
	case Hold:
		return 2
	case Block:
		return 3
	}
	return 0
}

// Entry is one word of the list.
type Entry struct {
	// Word is matched anywhere in a message, ASCII letters case-insensitively
	// (other scripts exactly). 1..MaxWordBytes bytes.
	Word string `yaml:"word"`
	// Action is mask, hold or block.
	Action Action `yaml:"action"`
	// WholeWord matches the word only when no ASCII letter or digit
	// touches it on either side ("ass" then spares "class").
	WholeWord bool `yaml:"whole_word"`
}

// File is the filter file's shape (YAML): words: [{word, action, whole_word}].
type File struct {
	Words []Entry `yaml:"words"`
}

// Limits of a list.
const (
	MaxWordBytes = 256
	MaxWords     = 100_000
)

// ErrInvalid marks a list that cannot be built; the message names the entry.
var ErrInvalid = errors.New("filter: invalid list")

// Load reads and builds the list in the YAML file at path.
func Load(path string) (*Filter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	var f File
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	return New(f.Words)
}

// Verdict is the outcome of checking one message.
type Verdict struct {
	// Action is the strongest action matched ("" for none).
	Action Action
	// Text is the message with every masked word replaced (when Action is
	// Mask or Hold; the input otherwise).
	Text string
	// Matches counts the words found.
	Matches int
}

// Len returns how many words the filter has.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	return f.words
}

// Check matches text against the list. A nil Filter allows everything.
func (f *Filter) Check(text string) Verdict {
	v := Verdict{Text: text}
	if f == nil || f.words == 0 {
		return v
	}
	var mask []bool // byte positions to mask, made on the first mask match
	state := int32(0)
	for i := 0; i < len(text); i++ {
		c := fold(text[i])
		for {
			if next, ok := f.next(state, c); ok {
				state = next
				break
			}
			if state == 0 {
				break
			}
			state = f.nodes[state].fail
		}
		for o := f.nodes[state].out; o >= 0; o = f.outs[o].next {
			e := &f.outs[o]
			start := i + 1 - e.length
			if e.whole && (touches(text, start-1) || touches(text, i+1)) {
				continue
			}
			v.Matches++
			if e.action.rank() > v.Action.rank() {
				v.Action = e.action
			}
			if e.action == Mask {
				if mask == nil {
					mask = make([]bool, len(text))
				}
				for j := start; j <= i; j++ {
					mask[j] = true
				}
			}
		}
	}
	if mask != nil && v.Action != Block {
		v.Text = masked(text, mask)
	}
	return v
}

// touches reports whether text[i] is an ASCII letter or digit.
func touches(text string, i int) bool {
	if i < 0 || i >= len(text) {
		return false
	}
	c := text[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// masked replaces every rune with a masked byte by one '*'.
func masked(text string, mask []bool) string {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); {
		_, n := utf8.DecodeRuneInString(text[i:])
		if mask[i] {
			out = append(out, '*')
		} else {
			out = append(out, text[i:i+n]...)
		}
		i += n
	}
	return string(out)
}

func fold(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Judge is Check for the room service: the text to accept (masked when a
// mask word matched), whether a block word matched and whether a hold
// word (and no block word) matched.
func (f *Filter) Judge(text string) (out string, blocked, held bool) {
	v := f.Check(text)
	return v.Text, v.Action == Block, v.Action == Hold
}
