package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// recordingsTTL bounds how long a room's recordings in progress are kept unread: a room whose
// node died and that nobody joins again leaves them behind.
const recordingsTTL = 7 * 24 * time.Hour

func recordingsKey(room string) string { return "hop:recordings:" + room }

// RecordingLedger keeps each room's recordings in progress in Redis, so that the node a room
// moves to (its node died) goes on recording it: signaling/egress's Ledger.
type RecordingLedger struct{ c *Cluster }

// RecordingLedger is the cluster's ledger of recordings in progress.
func (c *Cluster) RecordingLedger() *RecordingLedger { return &RecordingLedger{c: c} }

// Save records (or replaces) recording id of room, and indexes it by id to this node (which
// records it now), where StopEgress on another node finds it.
func (l *RecordingLedger) Save(ctx context.Context, room, id string, entry []byte) error {
	_, err := l.c.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, recordingsKey(room), id, entry)
		p.Expire(ctx, recordingsKey(room), recordingsTTL)
		p.Set(ctx, egressKey(id), l.c.cfg.NodeID, recordingsTTL)
		return nil
	})
	return err
}

// Remove forgets a recording that has ended.
func (l *RecordingLedger) Remove(ctx context.Context, room, id string) error {
	_, err := l.c.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, recordingsKey(room), id)
		p.Del(ctx, egressKey(id))
		return nil
	})
	return err
}

// Entries returns room's recordings in progress by id.
func (l *RecordingLedger) Entries(ctx context.Context, room string) (map[string][]byte, error) {
	m, err := l.c.rdb.HGetAll(ctx, recordingsKey(room)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for id, v := range m {
		out[id] = []byte(v)
	}
	return out, nil
}
