package chat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

func userPkt(topic, text string, dest ...string) []byte {
	b, _ := proto.Marshal(&livekit.DataPacket{ParticipantIdentity: "an", Value: &livekit.DataPacket_User{
		User: &livekit.UserPacket{Topic: &topic, Payload: []byte(text), DestinationIdentities: dest}}})
	return b
}

func chatPkt(id, text string, edited, deleted bool) []byte {
	m := &livekit.ChatMessage{Id: id, Message: text, Deleted: deleted}
	if edited {
		m.EditTimestamp = proto.Int64(1)
	}
	b, _ := proto.Marshal(&livekit.DataPacket{ParticipantIdentity: "an", Value: &livekit.DataPacket_ChatMessage{ChatMessage: m}})
	return b
}

// texts decodes what a newcomer would be sent.
func texts(t *testing.T, h *History) []string {
	t.Helper()
	var out []string
	h.Replay(func(b []byte) {
		pkt := &livekit.DataPacket{}
		if err := proto.Unmarshal(b, pkt); err != nil {
			t.Fatal(err)
		}
		if m := pkt.GetChatMessage(); m != nil {
			out = append(out, m.Message)
		} else {
			out = append(out, string(pkt.GetUser().Payload))
		}
	})
	return out
}

func TestKeepsOnlyChat(t *testing.T) {
	h := NewHistory(Limits{})
	for _, c := range []struct {
		pkt  []byte
		keep bool
	}{
		{userPkt(Topic, "xin chào"), true},
		{chatPkt("m1", "chào cả nhà", false, false), true},
		{userPkt("cursor", "x"), false},
		{userPkt(Topic, "riêng", "binh"), false},
		{[]byte{0xff, 0x01}, false},
	} {
		if got := h.Add(c.pkt); got != c.keep {
			t.Errorf("Add(%x) = %v, want %v", c.pkt, got, c.keep)
		}
	}
	if got := strings.Join(texts(t, h), "|"); got != "xin chào|chào cả nhà" {
		t.Errorf("replayed %q", got)
	}
}

func TestBounds(t *testing.T) {
	h := NewHistory(Limits{Messages: 3})
	for i := range 5 {
		h.Add(userPkt(Topic, fmt.Sprint(i)))
	}
	if got := strings.Join(texts(t, h), ","); got != "2,3,4" {
		t.Errorf("count bound kept %q", got)
	}
	one := len(userPkt(Topic, "aaaa"))
	h = NewHistory(Limits{Messages: 100, Bytes: 2*one + 1})
	for _, s := range []string{"aaaa", "bbbb", "cccc"} {
		h.Add(userPkt(Topic, s))
	}
	if got := strings.Join(texts(t, h), ","); got != "bbbb,cccc" {
		t.Errorf("size bound kept %q", got)
	}
	if h.Add(userPkt(Topic, strings.Repeat("x", 3*one))) {
		t.Error("a packet above the size bound was kept")
	}
}

func TestEditsAndDeletes(t *testing.T) {
	h := NewHistory(Limits{Messages: 3})
	h.Add(chatPkt("a", "một", false, false))
	h.Add(chatPkt("b", "hai", false, false))
	h.Add(chatPkt("a", "một (sửa)", true, false))
	if got := strings.Join(texts(t, h), ","); got != "một (sửa),hai" {
		t.Fatalf("after edit %q", got)
	}
	h.Add(chatPkt("b", "", false, true))
	if got := strings.Join(texts(t, h), ","); got != "một (sửa)" {
		t.Fatalf("after delete %q", got)
	}
	// Ids stay right after older messages are dropped.
	for _, id := range []string{"c", "d", "e"} {
		h.Add(chatPkt(id, id, false, false))
	}
	h.Add(chatPkt("d", "D", true, false))
	if got := strings.Join(texts(t, h), ","); got != "c,D,e" {
		t.Fatalf("after drop and edit %q", got)
	}
	if h.Add(chatPkt("a", "", false, true)) {
		t.Error("deleting a dropped message reported kept")
	}
}
