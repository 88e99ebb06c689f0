// Package loops runs a component's background goroutines and stops them:
// the shared half of the Start(ctx) error / Close(ctx) error lifecycle
// every long-lived roomcast component has. A Group's zero value is ready;
// Go and Every start goroutines, Close stops them all (closes the stop
// channel) and waits for them until its ctx ends.
//
// All methods are safe for concurrent use. Goroutines started after Close
// do not run.
package loops
