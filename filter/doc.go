// Package filter is the word filter of live-room messages: a list of words,
// each with an action (mask or block), matched in one pass over a message
// with an Aho-Corasick automaton (cost linear in the message, whatever the
// list's size), not a loop of regular expressions.
//
// A *Filter is immutable once built and safe for concurrent use; a reload
// builds a new one (Load) and swaps it in. The package starts no
// goroutines and does I/O only in Load.
package filter
