package sdk_test

import (
	"os"
	"testing"

	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

func TestMain(m *testing.M) {
	// The SDK logs every pion event; tests report what matters themselves.
	if os.Getenv("HOP_TEST_SDK_LOG") == "" {
		lksdk.SetLogger(logger.GetDiscardLogger())
	}
	os.Exit(m.Run())
}
