// Package room is the room service: the owner of a room keeps its viewer
// counts per node, its moderation state (mutes, bans, the sender whitelist),
// its upstream limiter, and allocates the room's seqs. Each accepted message
// is handed once to a Broadcaster together with the nodes that have viewers
// of the room; the Broadcaster (the local fanout in embedded mode, the
// cluster transport otherwise) takes it from there.
//
// Viewer counts per node come from joins and leaves and from the nodes'
// announcements (AnnounceViewers: authoritative for the announcing node).
// A new owner's first load of a room claims it in the store
// (Store.Claim), which fences the old owner from then on.
//
// Rooms are created on first join unless Config.RequireCreate is set (then
// by Create, with options), closed by CloseRoom, their lifetime or their
// idle timeout, and otherwise forgotten after Config.IdleTTL without
// viewers or moderation state (Sweep; lifecycle.go). Every incarnation of
// a room has its own epoch (epoch.go). Backend sends may carry an
// idempotency key (idempotency.go); rooms carry attributes (attrs.go); the
// owner pushes viewer counts once per round (counts.go).
//
// All Service methods are safe for concurrent use. Broadcast calls for one
// room are made in seq order, under the room's lock, so a Broadcaster must
// not block.
//
// Lifecycle: like every long-lived component, Start(ctx) starts the
// Service's goroutines, its janitor (Sweep every SweepPeriod) and the
// viewer-count round (CountRound every Config.CountRound), and
// Close(ctx) stops it and waits for it. Each package runs its own periodic
// work this way; the server only orders the Starts and Closes. Sweep may
// also be called directly (tests).
package room
