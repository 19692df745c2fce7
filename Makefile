# Spacecast build and test entry points. `make test` is the README's test
# command and what .ci/run runs.
GO ?= go
PKG := ./...

.PHONY: all build test deps test-short vet cross web

all: build

build:
	$(GO) build -o bin/spacecast ./cmd/spacecast

# deps installs what the tests need beyond Go (Debian packages, npm packages).
deps:
	./.ci/deps

test: deps cross
	$(GO) vet $(PKG)
	$(GO) test -count=1 -timeout 30m $(PKG)

test-short:
	$(GO) test -short -count=1 $(PKG)

vet:
	$(GO) vet $(PKG)

# cross checks that the tree builds and vets on macOS: every Linux-only
# part (epoll, sendmmsg, UDP GSO, network namespaces, AF_PACKET) is
# build-tagged beside a portable fallback. The UDP batch I/O and TURN
# packages vet on Windows too.
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build $(PKG)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(PKG)
	GOOS=windows GOARCH=amd64 $(GO) vet ./internal/udpbatch/ ./internal/turncred/ ./edge/mmsg/ ./turn/

# web rebuilds the room page's committed bundle (controlplane/web/dist) from
# its TypeScript sources; TestDistIsFresh fails until this is run after a
# change under controlplane/web/app.
web:
	cd controlplane/web/app && npm ci --no-audit --no-fund --loglevel=error && npm run build
