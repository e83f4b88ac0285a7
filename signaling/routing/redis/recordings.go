package redis

import (
	"context"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// recordingsTTL bounds how long a room's recordings in progress are kept unread: what no node
// finished (a cluster that lost every node, a recording that cannot be read) is dropped then.
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

// Release says that this node no longer records recording id (its room moved to another node):
// the id's index is dropped unless another node took the recording over already.
func (l *RecordingLedger) Release(ctx context.Context, id string) error {
	return releaseEgressScript.Run(ctx, l.c.rdb, []string{egressKey(id)}, l.c.cfg.NodeID).Err()
}

var releaseEgressScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Unhosted returns, by room, the recordings in progress of rooms no node hosts now and that no
// live node records: those of a room whose node died or drained and that nobody has rejoined.
// An empty room name looks at every room.
func (l *RecordingLedger) Unhosted(ctx context.Context, room string) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	if room != "" {
		return out, l.unhostedIn(ctx, room, out)
	}
	iter := l.c.rdb.Scan(ctx, 0, recordingsKey("*"), 100).Iterator()
	for iter.Next(ctx) {
		if err := l.unhostedIn(ctx, strings.TrimPrefix(iter.Val(), recordingsKey("")), out); err != nil {
			return nil, err
		}
	}
	return out, iter.Err()
}

func (l *RecordingLedger) unhostedIn(ctx context.Context, room string, out map[string]map[string][]byte) error {
	if n, err := l.c.rdb.Exists(ctx, roomKey(room)).Result(); err != nil || n > 0 {
		return err
	}
	entries, err := l.Entries(ctx, room)
	if err != nil {
		return err
	}
	for id, e := range entries {
		node, err := l.c.rdb.Get(ctx, egressKey(id)).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
		if node != "" {
			if alive, err := l.c.alive(ctx, node); err != nil {
				return err
			} else if alive {
				continue
			}
		}
		if out[room] == nil {
			out[room] = map[string][]byte{}
		}
		out[room][id] = e
	}
	return nil
}

// TakeUnhosted takes recording id of room out of the ledger for this node to finish, if it is
// still unhosted and its entry is still entry: one node of the cluster takes it, and a node
// that opens the room afterwards does not go on with it.
func (l *RecordingLedger) TakeUnhosted(ctx context.Context, room, id string, entry []byte) (bool, error) {
	n, err := takeUnhostedScript.Run(ctx, l.c.rdb, []string{roomKey(room), recordingsKey(room), egressKey(id)},
		id, entry, nodeKeyPrefix, l.c.cfg.NodeID, recordingsTTL.Milliseconds()).Int()
	return n == 1, err
}

// takeUnhostedScript: KEYS room lease, room's recordings, egress index; ARGV id, entry, node key
// prefix, this node, index TTL.
var takeUnhostedScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local node = redis.call('GET', KEYS[3])
if node and redis.call('EXISTS', ARGV[3] .. node) == 1 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
return 1
`)
