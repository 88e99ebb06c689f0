package room

import (
	"context"
	"fmt"
)

// Epochs: every incarnation of a room has its own epoch, a message id
// (unique in the deployment, never reused) drawn when the room starts:
// its first use, its creation after a close, its first use after it was
// forgotten as idle (its stored keys gone) or after an embedded restart
// (the memory store gone). The epoch is stored with the room, so a new
// owner in a cluster continues the same incarnation. Joined carries it; a
// client resuming with another epoch is told the room was reset and reads
// the new room from its beginning, instead of skipping the new room's
// first messages up to its old cursor.

// newEpoch draws and records a new epoch for a room starting over.
func (s *Service) newEpoch(ctx context.Context, id string, term uint64) (uint64, error) {
	e := s.ids.Next()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.store.Moderate(ctx, id, term, Change{Kind: ChangeEpoch, Epoch: e}); err != nil {
		return 0, s.storeErr(err)
	}
	// The store keeps an epoch recorded first (a racing claim): read it.
	snap, err := s.store.Load(ctx, id)
	if err != nil {
		return 0, s.storeErr(err)
	}
	if snap.Epoch == 0 {
		return 0, fmt.Errorf("%w: epoch not recorded", ErrUnavailable)
	}
	return snap.Epoch, nil
}
