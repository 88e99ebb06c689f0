package room

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// AppendAudit implements Store.
func (s *MemoryStore) AppendAudit(_ context.Context, roomID string, e AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.room(roomID)
	r.audit = append(r.audit, e)
	if n := len(r.audit) - s.cfg.KeepAudit; n > 0 {
		r.audit = append(r.audit[:0:0], r.audit[n:]...)
	}
	return nil
}

// Audit implements Store.
func (s *MemoryStore) Audit(_ context.Context, roomID string, n int) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return nil, nil
	}
	if n <= 0 || n > len(r.audit) {
		n = len(r.audit)
	}
	out := make([]AuditEntry, 0, n)
	for i := len(r.audit) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, r.audit[i])
	}
	return out, nil
}

// auditScript pushes one entry and trims the log. KEYS audit; ARGV
// entry, keep.
var auditScript = redis.NewScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`)

// AppendAudit implements Store.
func (s *RedisStore) AppendAudit(ctx context.Context, roomID string, e AuditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return translate("audit", auditScript.Run(ctx, s.rdb, s.keys(roomID, keyAudit), b, s.cfg.KeepAudit).Err())
}

// Audit implements Store.
func (s *RedisStore) Audit(ctx context.Context, roomID string, n int) ([]AuditEntry, error) {
	stop := int64(-1)
	if n > 0 {
		stop = int64(n) - 1
	}
	raw, err := s.rdb.LRange(ctx, s.keys(roomID, keyAudit)[0], 0, stop).Result()
	if err != nil {
		return nil, translate("audit", err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for _, x := range raw {
		var e AuditEntry
		if err := json.Unmarshal([]byte(x), &e); err != nil {
			return nil, fmt.Errorf("room: redis audit: corrupt entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}
