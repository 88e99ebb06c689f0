// Package fanout is the message service of a node: it keeps a local ring
// (and priority queue) per room with viewers on this node, the notify state
// of every viewer, and the dispatcher that turns room messages into merged
// notifications.
//
// The live-room path on this side:
//
//  1. Deliver appends a room message to the room's local buffer and marks the
//     room pending in every dispatcher shard that holds viewers of it. It
//     costs O(shards), never O(viewers).
//  2. Deliver wakes the dispatcher shards (there is no tick: an idle node
//     runs nothing). A shard walks the viewers of its pending rooms and
//     sends each viewer that is behind at most one Notify, however many
//     messages arrived (merged). One Notify frame is encoded once and
//     shared by every viewer at the same cursor.
//  3. When the new messages fit Config.InlineBytes they ride inside the
//     Notify, which is then complete: the viewer's cursors move to the
//     heads as the frame is queued, no answer is expected and the viewer
//     is not pulling, so a quiet room costs one frame per message. A
//     viewer whose connection is backed up (a Backlogger holding more than
//     Config.InlineBytes its client has not taken) gets no messages
//     inline: what it is sent is then paced by its own pulls. A Notify
//     that needs a pull (too much for inline, a gap, or a backed-up
//     viewer) makes the viewer "pulling": no further Notify until it
//     pulls or
//     Config.PullWindow passes; after Config.MaxUnanswered such
//     notifications without a pull it is kicked with reason NOT_PULLING.
//  4. Pull returns what follows the client's cursors from the priority
//     queue and the ring, with the missed count, and clears the flag. An
//     acknowledge-only pull is answered only when more is waiting.
//  5. How often one viewer may be notified is a Pacer. The default
//     MeasuredPacer starts at zero (a message for a viewer not notified
//     recently goes out at once) and stretches the interval only when the
//     node's notification rate nears what the node affords, which it
//     measures (process CPU per Notify, dispatcher lag and busy time, and
//     the round trip from a Notify that needs a pull to the pull, which
//     Pull reports to a Pacer that is a PullObserver), in the last window
//     and sustained over about a second, so one big room's fan-out burst
//     does not stretch it; Config.Notify's budgets only cap it. Big rooms
//     are served in larger, rarer batches.
//  6. A viewer may be capped (Cap, from Join.max_rate; cap.go): its
//     normal and low messages are sampled through a token bucket of its
//     own, high and priority ones always given, the skipped ones counted
//     missed. Its frames are its own; the others keep sharing theirs.
//  7. A seq gap (deliveries lost between nodes) is filled from History by
//     a repair goroutine, never by Deliver: Deliver runs under the room
//     owner's lock and does no I/O. Deliveries wait in order meanwhile;
//     when the repair ends, a waiting delivery that opens a gap in either
//     lane is repaired in turn, so a node that lost both lanes skips no
//     priority message.
//  8. A message marked visible_to one user (a shadow ban, the word
//     filter's hold, the hook's shadow; hidden.go) is held like any other,
//     unmarked, and read by that user's viewers only, in frames of their
//     own; every other viewer's frames skip it silently (no missed count).
//  9. A local room is read from History on the subscriber's goroutine
//     when it is new, when it gets a viewer again after it had none (the
//     owner sent it nothing meanwhile) and when SetEpoch finds another
//     incarnation in it (the ring is emptied first), so a viewer joining
//     or resuming reads what the room holds at once, not at the next
//     delivery. What the room's owner accepted after such a read and
//     before it admitted the viewer (it sends the room to this node only
//     from then on) is read by a repair goroutine once CatchUp gives the
//     admission's heads (catchup.go): in a quiet room no delivery would
//     reveal that gap.
//  10. The room's like total (the highest like_total of the folded like
//     items delivered here; likes.go) rides in a viewer's next Notify or
//     PullResult when it is above what that viewer was last sent, so a
//     capped or lapped viewer that was not given the item still has it.
//
// Concurrency: all Service methods are safe for concurrent use. Start(ctx)
// runs one goroutine per dispatcher shard, four gap repairers and the
// package's own janitor (each package runs its own periodic work);
// Close(ctx) stops them (cancelling a History read in flight) and waits,
// until ctx ends.
// Session.Push, Session.Kick and Session.Features are called from
// dispatcher goroutines and must neither block nor call back into the
// Service. A frame kind added after v1 (RoomCount) is pushed only to
// sessions whose Features have it.
//
// Config.Push is a baseline for benchmarks only (baseline.go).
package fanout
