// Package network holds Hop's adaptive-quality tests under shaped networks: real livekit-client
// participants in headless Chromium, each in its own network namespace (testkit.NetNS), whose
// links the tests limit (tc tbf) and make lossy (nftables) in the middle of a run, while the
// browser harness (test/browser) records a timeline of what every participant sends and decodes.
//
// The tests need root, iproute2, nftables, Chromium and the harness's npm packages (`make test`
// installs them). Run them alone with
//
//	go test -count=1 -v ./test/network/
//
// Their measurements (switch times, freezes, concealment, bitrates) are printed with t.Logf, and
// a one-second timeline of each run is printed too.
package network
