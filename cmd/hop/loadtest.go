package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/loadtest"
)

func runLoadTest(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	o := loadtest.Options{}
	fs.StringVar(&o.URL, "url", "ws://localhost:7880", "server URL")
	fs.StringVar(&o.APIKey, "api-key", config.DevAPIKey, "API key")
	fs.StringVar(&o.APISecret, "api-secret", config.DevAPISecret, "API secret")
	fs.StringVar(&o.Room, "room", "load-test", "room name")
	fs.IntVar(&o.Rooms, "rooms", 1, "rooms at once, named ROOM-1…ROOM-N, each with the publishers and subscribers given")
	urls := fs.String("urls", "", "comma-separated server URLs (a cluster's nodes) that clients take in turn; replaces --url")
	fs.StringVar(&o.IDPrefix, "id-prefix", "", "prefix of the participants' identities (runs sharing a room need different ones)")
	fs.IntVar(&o.VideoPublishers, "video-publishers", 1, "publishers of camera video (and microphone)")
	fs.IntVar(&o.AudioPublishers, "audio-publishers", 0, "publishers of microphone audio only")
	fs.IntVar(&o.Subscribers, "subscribers", 1, "subscribers")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long media flows once everyone joined")
	fs.StringVar(&o.Resolution, "video-resolution", "720p", "camera resolution: 1080p, 720p or 360p")
	noSimulcast := fs.Bool("no-simulcast", false, "publish only the top layer")
	fs.Float64Var(&o.JoinRate, "num-per-second", 5, "clients joining per second (0: all at once)")
	fs.BoolVar(&o.Relay, "relay", false, "use only TURN relays (the server's embedded TURN)")
	fs.BoolVar(&o.SinglePC, "single-pc", false, "one PeerConnection per client (/rtc/v1 mode)")
	cache, _ := os.UserCacheDir()
	fs.StringVar(&o.MediaDir, "media-dir", filepath.Join(cache, "hop-loadtest"), "where encoded media is cached")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Simulcast = !*noSimulcast
	if *urls != "" {
		o.URLs = strings.Split(*urls, ",")
	}
	if !*quiet {
		o.Log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := loadtest.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "subscriber\ttracks\tkbit/s\tloss %\tjitter ms")
	for _, s := range r.Subscribers {
		fmt.Fprintf(w, "%s\t%d/%d\t%.0f\t%.2f\t%.1f\n", s.Identity, len(s.Tracks), r.ExpectedTracks, s.Kbps, s.LossPct, s.JitterMs)
	}
	fmt.Fprintf(w, "total\t%d\t%.0f\t%.2f\t%.1f (max)\n", r.SubscribedTracks, r.TotalKbps, r.TotalLossPct, r.MaxJitterMs)
	if r.ConnectFailures > 0 {
		fmt.Fprintf(w, "connect failures\t%d\t%s\n", r.ConnectFailures, r.FirstConnectError)
	}
	if len(r.Rooms) > 0 {
		fmt.Fprintln(w, "\nroom\tsubscribers\ttracks\tkbit/s\tloss %\tconnect failures")
		for _, rr := range r.Rooms {
			fmt.Fprintf(w, "%s\t%d\t%d/%d\t%.0f\t%.2f\t%d\n", rr.Room, rr.Subscribers, rr.SubscribedTracks, rr.ExpectedTracks, rr.Kbps, rr.LossPct, rr.ConnectFailures)
		}
		fmt.Fprintf(w, "total\t%d\t%d/%d\t%.0f\t%.2f\t%d\n", len(r.Subscribers), r.SubscribedTracks,
			r.ExpectedTracks*(len(r.Subscribers)+r.ConnectFailures), r.TotalKbps, r.TotalLossPct, r.ConnectFailures)
	}
	return w.Flush()
}
