package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/signaling/auth"
)

func runToken(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	room := fs.String("room", "", "room the token joins (required)")
	identity := fs.String("identity", "", "participant identity (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "grant room administration (chair controls)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	key := fs.String("api-key", "", "API key (default: HOP_API_KEY, else the dev key)")
	secret := fs.String("api-secret", "", "API secret (default: HOP_API_SECRET, else the dev secret)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *room == "" || *identity == "" {
		fs.Usage()
		return errors.New("token: --room and --identity are required")
	}
	if *ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	k, s := *key, *secret
	if k == "" {
		k = os.Getenv("HOP_API_KEY")
	}
	if s == "" {
		s = os.Getenv("HOP_API_SECRET")
	}
	if k == "" && s == "" {
		k, s = config.DevAPIKey, config.DevAPISecret
	}
	if k == "" || s == "" {
		return errors.New("token: give both an API key and a secret")
	}
	tok, err := auth.NewToken(k, s, *room, *identity, *ttl, *admin, *name)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
