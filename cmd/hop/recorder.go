package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

const recorderUsage = `Usage:
  hop recorder start --room R [--track SID | --participant IDENTITY]   record a room (composite MP4), a track or a participant
  hop recorder list [--room R] [--active]                              list recordings and their files
  hop recorder stop ID                                                 stop a recording
Common flags: --url (the node, default http://localhost:7880), --api-key, --api-secret, --config.`

// runRecorder drives a node's recorder through its Egress API, as LiveKit's server SDKs do.
func runRecorder(args []string, out io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("recorder: say start, list or stop\n" + recorderUsage)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("recorder "+verb, flag.ContinueOnError)
	node := fs.String("url", "http://localhost:7880", "the node's address")
	key := fs.String("api-key", "", "API key (default: HOP_API_KEY, else the only key of HOP_KEYS, else the dev key)")
	secret := fs.String("api-secret", "", "API secret (default: HOP_API_SECRET)")
	cfgPath := fs.String("config", "", "read the keys from the node's configuration file")
	room := fs.String("room", "", "the meeting")
	track := fs.String("track", "", "start: record this track only (its SID)")
	participant := fs.String("participant", "", "start: record this participant's tracks only")
	active := fs.Bool("active", false, "list: recordings in progress only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, s, err := apiKey("recorder", *key, *secret, *cfgPath)
	if err != nil {
		return err
	}
	ec := lksdk.NewEgressClient(*node, k, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var infos []*livekit.EgressInfo
	switch verb {
	case "start":
		if *room == "" {
			return errors.New("recorder start: --room is required")
		}
		var i *livekit.EgressInfo
		switch {
		case *track != "":
			i, err = ec.StartTrackEgress(ctx, &livekit.TrackEgressRequest{RoomName: *room, TrackId: *track})
		case *participant != "":
			i, err = ec.StartParticipantEgress(ctx, &livekit.ParticipantEgressRequest{RoomName: *room, Identity: *participant})
		default:
			i, err = ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: *room})
		}
		infos = []*livekit.EgressInfo{i}
	case "list":
		var r *livekit.ListEgressResponse
		r, err = ec.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: *room, Active: *active})
		infos = r.GetItems()
	case "stop":
		if fs.NArg() != 1 {
			return errors.New("recorder stop: give the recording's ID")
		}
		var i *livekit.EgressInfo
		i, err = ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: fs.Arg(0)})
		infos = []*livekit.EgressInfo{i}
	default:
		return fmt.Errorf("recorder: unknown command %q\n%s", verb, recorderUsage)
	}
	if err != nil {
		return fmt.Errorf("recorder %s: %w", verb, err)
	}
	return printRecordings(out, infos)
}

// printRecordings prints one line per recording, then its files indented below it.
func printRecordings(out io.Writer, infos []*livekit.EgressInfo) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tROOM\tSTATUS\tSTARTED\tERROR")
	for _, i := range infos {
		started := "-"
		if i.StartedAt > 0 {
			started = time.Unix(0, i.StartedAt).Format(time.DateTime)
		}
		status := strings.TrimPrefix(i.Status.String(), "EGRESS_")
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", i.EgressId, i.RoomName, status, started, i.Error)
		for _, f := range i.FileResults {
			fmt.Fprintf(w, "  %s\t%s\t%.1f s\t\t\n", f.Filename, f.Location, time.Duration(f.Duration).Seconds())
		}
	}
	return w.Flush()
}
