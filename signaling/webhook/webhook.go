// Package webhook posts what happens in rooms and recordings to the operator's URLs as LiveKit's
// webhooks, signed with one of the node's API keys, so that LiveKit's server SDKs (their webhook
// receivers) take them unchanged. Delivery is LiveKit's own notifier: queued per room, in order,
// retried, never blocking a room.
package webhook

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lkwebhook "github.com/livekit/protocol/webhook"
)

// Notifier sends webhook events to every configured URL.
type Notifier struct {
	n   lkwebhook.QueuedNotifier
	log *slog.Logger
}

// New makes a notifier for urls, signing with apiKey, one of keys (key → secret).
func New(urls []string, apiKey string, keys map[string]string, log *slog.Logger) (*Notifier, error) {
	if keys[apiKey] == "" {
		return nil, fmt.Errorf("webhook.api_key %q is not one of the node's keys", apiKey)
	}
	// The notifier counts what it sends in metrics it only makes when asked to.
	lkwebhook.InitWebhookStats(nil)
	cfg := lkwebhook.DefaultWebHookConfig
	cfg.URLs, cfg.APIKey = urls, apiKey
	n, err := lkwebhook.NewDefaultNotifier(cfg, auth.NewFileBasedKeyProviderFromMap(keys))
	if err != nil {
		return nil, err
	}
	return &Notifier{n: n, log: log}, nil
}

// Event queues one event for every URL.
func (n *Notifier) Event(e *livekit.WebhookEvent) {
	if err := n.n.QueueNotify(context.Background(), e); err != nil {
		n.log.Warn("webhook not queued", "event", e.Event, "err", err)
	}
}

// Close sends what is queued, then stops.
func (n *Notifier) Close() { n.n.Stop(false) }
