package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/signaling/meeting"
)

// runInvite prints a meeting link carrying a signed invitation: whoever opens it chooses a name
// and joins with the invitation's role, no token typed or seen.
func runInvite(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	room := fs.String("room", "", "meeting name or code (default: a new code)")
	role := fs.String("role", "participant", "host, participant or viewer")
	expires := fs.Duration("expires", 24*time.Hour, "how long the invitation is valid")
	base := fs.String("url", "", "the node's address as people open it, e.g. https://hop.example.vn (default: print the invitation alone)")
	key := fs.String("api-key", "", "API key (default: HOP_API_KEY, else the only key of HOP_KEYS, else the dev key)")
	secret := fs.String("api-secret", "", "API secret (default: HOP_API_SECRET)")
	cfgPath := fs.String("config", "", "read the keys from the node's configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, ok := meeting.ParseRole(*role)
	if !ok {
		return fmt.Errorf("invite: unknown role %q (host, participant or viewer)", *role)
	}
	if *expires <= 0 {
		return errors.New("invite: --expires must be positive")
	}
	name := meeting.NormalizeRoom(*room)
	if name == "" {
		name = meeting.NewCode()
	}
	if !meeting.ValidRoom(name) {
		return fmt.Errorf("invite: %q cannot name a meeting", *room)
	}
	k, s, err := apiKey("invite", *key, *secret, *cfgPath)
	if err != nil {
		return err
	}
	inv, err := meeting.Invite{Room: name, Role: r, Expires: time.Now().Add(*expires)}.Sign(k, s)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	if *base == "" {
		_, err = fmt.Fprintln(out, inv)
		return err
	}
	// The invitation rides in the fragment, which browsers never send to a server.
	link := strings.TrimRight(*base, "/") + "/m/" + url.PathEscape(name) + "#invite=" + inv
	_, err = fmt.Fprintln(out, link)
	return err
}

// apiKey finds the key a command signs with: the flags, HOP_API_KEY/HOP_API_SECRET, a node's HOP_KEYS
// or configuration file (their first key in sorted order, as the node signs), else the dev key.
func apiKey(cmd, key, secret, cfgPath string) (string, string, error) {
	if key == "" {
		key = os.Getenv("HOP_API_KEY")
	}
	if secret == "" {
		secret = os.Getenv("HOP_API_SECRET")
	}
	if key == "" && secret == "" {
		var keys map[string]string
		if env := os.Getenv("HOP_KEYS"); env != "" {
			k, err := config.ParseKeys(env)
			if err != nil {
				return "", "", fmt.Errorf("%s: HOP_KEYS: %w", cmd, err)
			}
			keys = k
		} else if cfgPath != "" {
			c := config.Default()
			if err := c.LoadFile(cfgPath); err != nil {
				return "", "", fmt.Errorf("%s: %w", cmd, err)
			}
			keys = c.Keys
		}
		key, secret = meeting.SigningKey(keys)
		if len(keys) == 0 {
			key, secret = config.DevAPIKey, config.DevAPISecret
		}
	}
	if key == "" || secret == "" {
		return "", "", fmt.Errorf("%s: give both an API key and a secret", cmd)
	}
	return key, secret, nil
}
