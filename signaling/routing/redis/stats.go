package redis

import "sync/atomic"

// Stats counts the cluster's work on this node (exported as metrics).
type Stats struct {
	// RelayedUp and RelayedDown count signal messages relayed to and from a room's node.
	RelayedUp, RelayedDown atomic.Uint64
	// RelayLagMicros sums, and RelayLagSamples counts, the time relayed messages spent between nodes.
	RelayLagMicros, RelayLagSamples atomic.Uint64
	// RelaysBehind counts relayed sessions closed because their reader fell behind.
	RelaysBehind atomic.Uint64
	// Placements counts leases this node took (rooms placed here, takeovers included).
	Placements atomic.Uint64
	// Takeovers counts rooms placed here that another node hosted before (its lease expired).
	Takeovers                           atomic.Uint64
	Renewals, RenewFailures, LeasesLost atomic.Uint64
	// Calls counts RoomService and session calls served for other nodes.
	Calls atomic.Uint64
}
