package multinode

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/internal/config"
)

// The Egress API works on every node behind one load balancer: a recording started on a node
// that does not host the room runs on the room's node (its files under that node's recorder
// directory), a third node lists it, a node that does not record it stops it, and it completes.
// A token for another room is refused by the node it reaches, before anything is forwarded.
func TestEgressOnAnyNode(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, r, 3, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	ctx := context.Background()
	m := startMeeting(t, r, nodes, "anywhere")
	host, a, b := m.host, m.a, m.b

	// A token for another room is refused on the node it reaches.
	other := restrictedEgress(t, nodes[a].HTTPURL, "elsewhere")
	_, err := other.StartRoomCompositeEgress(other.ctx, &livekit.RoomCompositeEgressRequest{RoomName: "anywhere"})
	wantCode(t, "start with a token for another room", err, twirp.PermissionDenied)

	// Errors of the room's node keep their codes.
	_, err = egressClientOf(nodes[a]).StartTrackEgress(ctx, &livekit.TrackEgressRequest{RoomName: "anywhere", TrackId: "TR_none",
		Output: &livekit.TrackEgressRequest_File{File: &livekit.DirectFileOutput{}}})
	wantCode(t, "a track nobody publishes", err, twirp.NotFound)
	_, err = egressClientOf(nodes[a]).StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "nowhere"})
	wantCode(t, "a room on no node", err, twirp.NotFound)

	info, err := egressClientOf(nodes[a]).StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "anywhere", AudioOnly: true})
	if err != nil {
		t.Fatalf("start on a node that does not host the room: %v", err)
	}
	id := info.EgressId
	hostDir := nodes[host].Config.Recorder.Dir
	waitSegment(t, filepath.Join(hostDir, id, "manifest.json"), 2)
	if _, err := os.Stat(filepath.Join(nodes[a].Config.Recorder.Dir, id)); !os.IsNotExist(err) {
		t.Errorf("the node the start reached records too (%v)", err)
	}

	// Indexed by id to its node while it runs, and not for ever.
	rdb := r.client(t)
	if node, err := rdb.Get(ctx, "hop:egress:"+id).Result(); err != nil || node != nodes[host].ID() {
		t.Errorf("the egress is indexed to %q (%v), want the room's node %s", node, err, nodes[host].ID())
	}
	if ttl := rdb.TTL(ctx, "hop:egress:"+id).Val(); ttl <= 0 {
		t.Errorf("the egress's index has no expiry (%v)", ttl)
	}

	// The third node lists it, active, with everything recorded on the cluster's nodes.
	waitEgress(t, egressClientOf(nodes[b]), id, func(i *livekit.EgressInfo) bool { return i.Status == livekit.EgressStatus_EGRESS_ACTIVE })
	res, err := egressClientOf(nodes[b]).ListEgress(ctx, &livekit.ListEgressRequest{RoomName: "anywhere", Active: true})
	if err != nil || len(res.Items) != 1 || res.Items[0].EgressId != id {
		t.Fatalf("ListEgress of the room's active egresses on a third node: %v, %v", res, err)
	}
	if res, err := other.ListEgress(other.ctx, &livekit.ListEgressRequest{}); err != nil || len(res.Items) != 0 {
		t.Fatalf("a token for another room lists %v (%v)", res, err)
	}
	// Stopping needs the egress's room, known on the room's node: that node refuses it.
	_, err = restrictedEgress(t, nodes[b].HTTPURL, "elsewhere").StopEgress(other.ctx, &livekit.StopEgressRequest{EgressId: id})
	wantCode(t, "stop with a token for another room", err, twirp.PermissionDenied)

	time.Sleep(2 * time.Second) // the meeting goes on, recorded
	stopped, err := egressClientOf(nodes[a]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id})
	if err != nil {
		t.Fatalf("stop on a node that does not record: %v", err)
	}
	if stopped.EgressId != id || stopped.Status != livekit.EgressStatus_EGRESS_ENDING {
		t.Errorf("StopEgress answered %s %s, want %s ending", stopped.EgressId, stopped.Status, id)
	}
	done := waitEgress(t, egressClientOf(nodes[b]), id, func(i *livekit.EgressInfo) bool {
		return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE
	})
	if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(done.FileResults) != 1 || done.GetFile() == nil {
		t.Fatalf("egress ended %s (%s) with %v", done.Status, done.Error, done.FileResults)
	}
	composite := done.FileResults[0].Location
	if st, err := os.Stat(composite); err != nil || st.Size() == 0 || !strings.HasPrefix(composite, hostDir+string(filepath.Separator)) {
		t.Errorf("the composite %s is not a file under the room's node's directory %s (%v)", composite, hostDir, err)
	}
	// Ended, it is no longer indexed: the node that has it is found all the same.
	// The node forgets the recording just after reporting it complete, with no event to wait on.
	for deadline := time.Now().Add(5 * time.Second); rdb.Exists(ctx, "hop:egress:"+id).Val() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the ended egress is still indexed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = egressClientOf(nodes[b]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id})
	wantCode(t, "stop an ended egress", err, twirp.FailedPrecondition)
	_, err = egressClientOf(nodes[b]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: "EG_none"})
	wantCode(t, "stop an unknown egress", err, twirp.NotFound)
}

// restrictedClient is an Egress client whose token has roomRecord for one room only.
type restrictedClient struct {
	livekit.Egress
	ctx context.Context
}

func restrictedEgress(t *testing.T, url, room string) restrictedClient {
	t.Helper()
	tok, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity("recorder").SetValidFor(time.Hour).
		SetVideoGrant(&lkauth.VideoGrant{RoomRecord: true, Room: room}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := twirp.WithHTTPRequestHeaders(context.Background(), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	return restrictedClient{livekit.NewEgressProtobufClient(url, http.DefaultClient), ctx}
}

func wantCode(t *testing.T, what string, err error, code twirp.ErrorCode) {
	t.Helper()
	var te twirp.Error
	if !errors.As(err, &te) || te.Code() != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}
