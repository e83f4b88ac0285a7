package routing

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/hop-meet/hop/signaling/auth"
)

type countingHost struct{ started int }

func (h *countingHost) StartSession(context.Context, *JoinParams) (Session, error) {
	h.started++
	return nil, nil
}
func (h *countingHost) CheckJoin(context.Context, *JoinParams) error { return nil }

// The node a room is claimed by is where its sessions start; a room another node holds is refused
// with that node named, never started here as a second copy.
func TestLocalJoinUsesTheClaimedNode(t *testing.T) {
	reg := NewMemoryRegistry()
	host := &countingHost{}
	l := &Local{NodeID: "A", Host: host, Registry: reg}
	if _, err := l.Join(context.Background(), &JoinParams{Room: "r"}); err != nil || host.started != 1 {
		t.Fatalf("join on a free room: %v, %d sessions", err, host.started)
	}
	if _, err := reg.Claim(context.Background(), "elsewhere", "B"); err != nil {
		t.Fatal(err)
	}
	_, err := l.Join(context.Background(), &JoinParams{Room: "elsewhere"})
	var re *RoomElsewhereError
	if !errors.As(err, &re) || re.Node != "B" {
		t.Fatalf("join on B's room: %v", err)
	}
	if auth.Status(err) != http.StatusServiceUnavailable {
		t.Fatalf("status %d", auth.Status(err))
	}
	if host.started != 1 {
		t.Fatal("a session started for a room another node hosts")
	}
	// Released by its node, the room may be claimed here.
	_ = reg.Release(context.Background(), "elsewhere", "B")
	if _, err := l.Join(context.Background(), &JoinParams{Room: "elsewhere"}); err != nil || host.started != 2 {
		t.Fatalf("join after release: %v", err)
	}
}
