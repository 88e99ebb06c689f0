package filter

import (
	"fmt"
	"sort"
)

// Filter is a built word list: an Aho-Corasick automaton over bytes
// (ASCII-folded). Nodes keep their transitions as a sorted edge list.
type Filter struct {
	nodes []node
	outs  []output
	words int
	root  [256]int32 // the root's transitions; 0: none
}

type node struct {
	keys  []byte  // sorted
	vals  []int32 // child per key
	fail  int32
	out   int32 // first output, -1: none (chained through output.next)
	depth int
}

type output struct {
	length int
	action Action
	whole  bool
	next   int32
}

func (n *node) child(c byte) (int32, bool) {
	keys := n.keys
	if len(keys) <= 8 {
		for i, k := range keys {
			if k == c {
				return n.vals[i], true
			}
		}
		return 0, false
	}
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(keys) && keys[lo] == c {
		return n.vals[lo], true
	}
	return 0, false
}

// next is the goto function of the automaton: the root's dense table, a
// node's edge list otherwise.
func (f *Filter) next(state int32, c byte) (int32, bool) {
	if state == 0 {
		v := f.root[c]
		return v, v > 0
	}
	return f.nodes[state].child(c)
}

// New builds a filter from entries. An entry with an empty or too long
// word, or an unknown action, is ErrInvalid naming it.
func New(entries []Entry) (*Filter, error) {
	if len(entries) > MaxWords {
		return nil, fmt.Errorf("%w: %d words, at most %d", ErrInvalid, len(entries), MaxWords)
	}
	f := &Filter{nodes: []node{{out: -1}}}
	for i, e := range entries {
		switch {
		case e.Word == "" || len(e.Word) > MaxWordBytes:
			return nil, fmt.Errorf("%w: words[%d]: word must be 1..%d bytes", ErrInvalid, i, MaxWordBytes)
		case e.Action.rank() == 0:
			return nil, fmt.Errorf("%w: words[%d] (%q): action must be mask, hold or block, got %q", ErrInvalid, i, e.Word, e.Action)
		}
		cur := int32(0)
		for j := 0; j < len(e.Word); j++ {
			c := fold(e.Word[j])
			next, ok := f.nodes[cur].child(c)
			if !ok {
				next = int32(len(f.nodes))
				f.nodes = append(f.nodes, node{out: -1, depth: f.nodes[cur].depth + 1})
				n := &f.nodes[cur]
				k := sort.Search(len(n.keys), func(i int) bool { return n.keys[i] >= c })
				n.keys = append(n.keys, 0)
				n.vals = append(n.vals, 0)
				copy(n.keys[k+1:], n.keys[k:])
				copy(n.vals[k+1:], n.vals[k:])
				n.keys[k], n.vals[k] = c, next
			}
			cur = next
		}
		f.outs = append(f.outs, output{length: len(e.Word), action: e.Action, whole: e.WholeWord, next: f.nodes[cur].out})
		f.nodes[cur].out = int32(len(f.outs) - 1)
		f.words++
	}
	f.link()
	for k, c := range f.nodes[0].keys {
		f.root[c] = f.nodes[0].vals[k]
	}
	return f, nil
}

// link computes the failure links breadth first and appends each node's
// failure outputs to its own.
func (f *Filter) link() {
	queue := make([]int32, 0, len(f.nodes))
	for _, v := range f.nodes[0].vals {
		f.nodes[v].fail = 0
		queue = append(queue, v)
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for k, c := range f.nodes[u].keys {
			v := f.nodes[u].vals[k]
			s := f.nodes[u].fail
			for {
				if w, ok := f.nodes[s].child(c); ok && w != v {
					f.nodes[v].fail = w
					break
				}
				if s == 0 {
					f.nodes[v].fail = 0
					break
				}
				s = f.nodes[s].fail
			}
			// v's outputs continue with those of its failure node.
			if f.nodes[v].out < 0 {
				f.nodes[v].out = f.nodes[f.nodes[v].fail].out
			} else {
				last := f.nodes[v].out
				for f.outs[last].next >= 0 {
					last = f.outs[last].next
				}
				f.outs[last].next = f.nodes[f.nodes[v].fail].out
			}
			queue = append(queue, v)
		}
	}
}
