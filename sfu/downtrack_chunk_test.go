package sfu

import (
	"reflect"
	"runtime"
	"testing"
	"weak"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/forwarder"
)

// What forwarder.Alloc carves for a downtrack may point only into its own chunk: a closed
// downtrack's hot part stays in a chunk as long as a live neighbour does, and a pointer out would
// keep the subscriber's connection, participant and room with it (the churn test in test/leak saw
// whole rooms kept that way).
func TestDownTrackChunkMemoryPointsNowhereElse(t *testing.T) {
	// hdr's slices are pointed at hdrExt and twccMain, in the same object (see stamp).
	allowed := map[string]bool{"hotState.hdr.CSRC": true, "hotState.hdr.Extensions": true, "hotState.hdrExt": true}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[downTrackHot](),
		reflect.TypeFor[[videoHistory]sentPacket](),
		reflect.TypeFor[[audioHistory]sentPacket](),
	} {
		for _, path := range pointerFields(typ, "") {
			if !allowed[path] {
				t.Errorf("%v: %s holds a pointer; chunk memory must not point outside its chunk", typ, path)
			}
		}
	}
}

// pointerFields lists the fields (paths from t) whose values hold pointers.
func pointerFields(t reflect.Type, path string) []string {
	switch t.Kind() {
	case reflect.Struct:
		var out []string
		for i := range t.NumField() {
			f := t.Field(i)
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if f.Type.Kind() == reflect.Array && len(pointerFields(f.Type, p)) > 0 {
				out = append(out, p) // an array of values with pointers: named as a whole
				continue
			}
			out = append(out, pointerFields(f.Type, p)...)
		}
		return out
	case reflect.Array:
		return pointerFields(t.Elem(), path)
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Chan, reflect.Func, reflect.Interface,
		reflect.String, reflect.UnsafePointer:
		return []string{path}
	}
	return nil
}

// A closed downtrack whose chunk lives on (a neighbour in it is still in use) keeps neither its
// track nor what its callbacks hold.
func TestClosedDownTrackKeepsNothingInItsChunk(t *testing.T) {
	pool := forwarder.NewPool(1, nil)
	defer pool.Close()
	lane := pool.Lane()
	defer lane.Release()

	// closedDownTrack makes, starts and closes a downtrack on lane, returning weak pointers to its
	// track and to what its callback holds.
	closedDownTrack := func() (weak.Pointer[Track], weak.Pointer[struct{ name string }]) {
		gone := NewTrack(TrackParams{ID: "TR_gone", PublisherID: "PA_gone", Kind: webrtc.RTPCodecTypeVideo, Writers: pool})
		subscriber := &struct{ name string }{"the subscriber's participant"}
		dt := NewDownTrack(DownTrackParams{Track: gone, SubscriberID: "a", StreamID: "a", Lane: lane,
			OnClose: func() { _ = subscriber.name }})
		gone.AddDownTrack(dt)
		dt.Close()
		gone.Close()
		return weak.Make(gone), weak.Make(subscriber)
	}
	weakTrack, weakSubscriber := closedDownTrack()
	stays := NewTrack(TrackParams{ID: "TR_stays", PublisherID: "PA_stays", Kind: webrtc.RTPCodecTypeVideo, Writers: pool})
	neighbour := NewDownTrack(DownTrackParams{Track: stays, SubscriberID: "b", StreamID: "b", Lane: lane})
	stays.AddDownTrack(neighbour)

	runtime.GC()
	runtime.GC()
	if weakTrack.Value() != nil || weakSubscriber.Value() != nil {
		t.Fatalf("a closed downtrack kept its track (%v) or its callbacks' state (%v) while its chunk lives",
			weakTrack.Value() != nil, weakSubscriber.Value() != nil)
	}
	runtime.KeepAlive(neighbour)
	stays.Close()
}
