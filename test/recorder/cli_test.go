package recorder_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// `hop recorder` drives a node's recorder from the command line: start a room's recording, see it
// listed as active, stop it, and find its file in the list.
func TestRecorderCommand(t *testing.T) {
	bin := testkit.BuildHop(t)
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	m := testkit.MakeMedia(t)
	alice := join(t, n, "cli", "alice")
	publish(t, alice, m.Opus, 20*time.Millisecond, "mic", 0, 0)
	hop := func(args ...string) string {
		t.Helper()
		args = append(args[:1], append([]string{"--url", n.HTTPURL, "--api-key", config.DevAPIKey, "--api-secret", config.DevAPISecret}, args[1:]...)...)
		out, err := exec.Command(bin, append([]string{"recorder"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hop recorder %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The participant's track joins the room once its media arrived; the room itself is there.
	out := hop("start", "--room", "cli", "--participant", "alice")
	id := regexp.MustCompile(`EG_\w+`).FindString(out)
	if id == "" || !strings.Contains(out, "STARTING") {
		t.Fatalf("start printed no starting recording:\n%s", out)
	}
	if out := hop("list", "--room", "cli", "--active"); !strings.Contains(out, id) || !strings.Contains(out, "ACTIVE") {
		t.Fatalf("list --active does not show %s active:\n%s", id, out)
	}
	time.Sleep(2 * time.Second) // two seconds of audio to record
	hop("stop", id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := hop("list", "--room", "cli")
		// A participant's recording is its composite: the line under the recording names its file.
		if strings.Contains(out, "COMPLETE") && strings.Contains(out, id+"/composite.mp4") {
			break
		}
		if strings.Contains(out, "FAILED") || time.Now().After(deadline) {
			t.Fatalf("the recording did not complete with its file:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := hop("list", "--room", "cli", "--active"); strings.Contains(out, id) {
		t.Fatalf("a stopped recording is still listed as active:\n%s", out)
	}
}
