# Hop — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/hop
APT_PACKAGES := ffmpeg chromium iproute2 nftables openssl redis-server
export GOTOOLCHAIN := local

.PHONY: run build webclient test deps test-deps vet gosec bench clean

run: build
	./$(BIN) serve --dev

build: webclient
	$(GO) build -o $(BIN) ./cmd/hop

# The web client is built into webclient/dist and embedded into the binary.
webclient: webclient/node_modules/.installed
	cd webclient && npm run build

webclient/node_modules/.installed: webclient/package-lock.json
	cd webclient && npm ci --no-audit --no-fund
	touch $@

test/browser/node_modules/.installed: test/browser/package-lock.json
	cd test/browser && npm ci --no-audit --no-fund
	touch $@

# System packages the tests use: ffmpeg makes media, chromium runs browser tests, iproute2 and
# nftables shape networks in namespaces, certutil gives test browsers a CA to trust;
# fonts-dejavu-core has the Vietnamese letters a recording's composite writes names in;
# redis-server coordinates the cluster tests. Installed only when missing (needs root, as in CI).
deps:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Versity's S3 gateway: the recorder's S3 tests run against it (a build of a few minutes, once).
test-deps: deps webclient test/browser/node_modules/.installed
	@command -v versitygw >/dev/null || [ -x "$$($(GO) env GOPATH)/bin/versitygw" ] || \
		$(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

# gosec (Go's security checker), installed into GOPATH/bin when missing. Two rules are off:
# G115 (integer conversions: RTP/RTCP fields are fixed-width and wrap by design, the munger's
# conversions are deliberate and tested) and G103 (unsafe: sfu/udpbatch's raw sendmmsg/recvmmsg
# calls, audited there). Test tooling (test/, internal/testkit) runs programs and writes files by
# design and is not scanned. Anything else is fixed or carries a #nosec with its reason.
GOSEC_VERSION = v2.30.0
GOSEC = $(shell $(GO) env GOPATH)/bin/gosec
$(GOSEC):
	$(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

gosec: $(GOSEC)
	$(GOSEC) -quiet -exclude-dir=test -exclude-dir=testkit -exclude=G115,G103 ./...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Packages run one at a time: the browser and SDK tests each use both cores, and media quality
# (what they assert) depends on the CPU they get. A second pass runs the race detector over the
# signalling and node packages (the room domain's unit tests among them), the raw-websocket
# tests, whose node runs in the test process, and the recorder's unit tests. Not test/sdk: the
# race detector also watches the SDK clients in that process, and pion's client side races with
# itself (seen in connect).
# Every benchmark also runs once, so that `make bench` cannot break unnoticed (a benchmark that
# waits for its writers fails when they write nothing).
test: test-deps vet gosec
	cd webclient && npm test
	$(GO) test -count=1 -p 1 -timeout 25m ./...
	$(GO) test -race -count=1 -p 1 -timeout 20m ./signaling/... ./internal/... ./test/signal/... ./recorder/...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./sfu/... ./recorder/...

# Micro-benchmarks of the packet path (ns/packet, allocs), at 1 and 2 cores, then an end-to-end
# run of `hop loadtest` against a node (needs root for its network namespace, and ffmpeg).
bench: build deps
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 ./sfu/...
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./recorder/...
	$(GO) run ./test/bench/e2e -hop $(BIN)

clean:
	rm -rf bin webclient/node_modules test/browser/node_modules
