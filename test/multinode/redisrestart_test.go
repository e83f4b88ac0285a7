package multinode

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Redis restarted (empty) during a meeting: media keeps flowing, nobody is disconnected, and a
// signal message sent meanwhile arrives;
// joins meanwhile are refused with a clear reason; once Redis is back the nodes register again,
// the room's node takes its lease again, and joins work.
func TestRedisRestartDuringMeeting(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, r, 3)
	m := startMeeting(t, r, nodes, "steady")
	host, a, p1, p2 := m.host, m.a, m.p1, m.p2
	room := nodes[host].Rooms().Room("steady")
	sids := map[string]string{}
	for _, p := range room.Participants() {
		sids[p.Info().Identity] = p.Info().Sid
	}

	r.stop()
	down := time.Now()
	// Media goes straight to the room's node: it flows while Redis is away.
	p1.waitMedia("p2", down, 10, 5*time.Second)
	p2.waitMedia("p1", down, 10, 5*time.Second)
	// A signal message sent now reaches the room's node once Redis is back, in order, without
	// closing the session.
	go p1.room.LocalParticipant.SetMetadata("during-outage")
	// A join now is refused, saying why.
	res, err := http.Get(nodes[a].HTTPURL + "/rtc/validate?access_token=" + token(t, "other", "p3"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Redis") {
		t.Fatalf("validate while Redis is away: %d %q", res.StatusCode, body)
	}
	r.start()
	back := time.Now()
	t.Logf("Redis away for %v", back.Sub(down))

	p1.waitMedia("p2", back, 25, 10*time.Second)
	p2.waitMedia("p1", back, 25, 10*time.Second)
	if nodes[host].Rooms().Room("steady") != room {
		t.Fatal("the room was closed and opened again on its node")
	}
	for _, p := range room.Participants() {
		if sids[p.Info().Identity] != p.Info().Sid {
			t.Fatalf("%s rejoined (sid %s, was %s)", p.Info().Identity, p.Info().Sid, sids[p.Info().Identity])
		}
	}
	if len(room.Participants()) != 2 {
		t.Fatalf("%d participants after Redis came back", len(room.Participants()))
	}
	// The lease is back in Redis, held by the same node; a newcomer through the third node joins.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if owner, _, err := roomOwner(r, t, "steady"); err == nil && owner == nodes[host].ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the room's lease was not taken again after Redis came back")
		}
		time.Sleep(50 * time.Millisecond) // the renewal has no event a test can wait on
	}
	ownerIndex(t, r, nodes, "steady")
	for room.Participant("p1").Info().Metadata != "during-outage" {
		if time.Now().After(deadline) {
			t.Fatalf("p1's metadata sent while Redis was away: %q", room.Participant("p1").Info().Metadata)
		}
		time.Sleep(50 * time.Millisecond) // the room's state has no event a test can wait on
	}
	p3 := join(t, nodes[a].URL(), "steady", "p3")
	p3.waitMedia("p1", time.Now(), 25, 20*time.Second)
	if nodes[host].Cluster().Stats().RenewFailures.Load() == 0 {
		t.Fatal("no lease renewal failed while Redis was away")
	}
}
