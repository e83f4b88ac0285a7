package loadtest

import (
	"reflect"
	"testing"
	"time"
)

func TestRoomsAndURLs(t *testing.T) {
	o := Options{Room: "r", URL: "ws://one"}
	if got := o.roomNames(); !reflect.DeepEqual(got, []string{"r"}) {
		t.Fatalf("one room: %v", got)
	}
	if next := o.urlTurns(); next() != "ws://one" || next() != "ws://one" {
		t.Fatal("without URLs every client takes URL")
	}
	o.Rooms, o.URLs = 3, []string{"ws://a", "ws://b"}
	if got := o.roomNames(); !reflect.DeepEqual(got, []string{"r-1", "r-2", "r-3"}) {
		t.Fatalf("three rooms: %v", got)
	}
	next := o.urlTurns()
	var got []string
	for range 5 {
		got = append(got, next())
	}
	if !reflect.DeepEqual(got, []string{"ws://a", "ws://b", "ws://a", "ws://b", "ws://a"}) {
		t.Fatalf("URLs in turn: %v", got)
	}
}

func TestRoomReports(t *testing.T) {
	ok := &subscriber{identity: "s1", room: "r-1", tracks: map[string]*trackStats{"T1": {kind: "video"}}}
	ok.tracks["T1"].add(1, 0, 1000, time.Now())
	ok.tracks["T1"].add(3, 0, 1000, time.Now()) // 2 lost
	failed := &subscriber{identity: "s2", room: "r-2", failed: true}
	rs := roomReports([]string{"r-1", "r-2"}, []*subscriber{ok, failed}, time.Second, 2)
	want := []RoomReport{
		{Room: "r-1", Subscribers: 1, SubscribedTracks: 1, ExpectedTracks: 2, Kbps: 16, LossPct: 100.0 / 3},
		{Room: "r-2", ExpectedTracks: 2, ConnectFailures: 1},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("room reports\n got %+v\nwant %+v", rs, want)
	}
}
