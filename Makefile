# Spacecast build and test entry points. `make test` is the README's test
# command and what .ci/run runs: the lint first, then the suite.
GO ?= go
PKG := ./...
# LOCAL is the import prefix goimports groups last, after the standard
# library and the other modules.
LOCAL := github.com/spacecast/spacecast

.PHONY: all build test deps test-short vet lint cross web

all: build

build:
	$(GO) build -o bin/spacecast ./cmd/spacecast

# deps installs what the tests need beyond Go (Debian packages, npm packages).
deps:
	./.ci/deps

test: lint deps cross
	$(GO) test -count=1 -timeout 30m $(PKG)

test-short:
	$(GO) test -short -count=1 $(PKG)

vet:
	$(GO) vet $(PKG)

# lint: go vet; staticcheck (every check of its default set; a deprecated
# field the LiveKit protocol still needs carries a //lint:ignore with its
# reason at the line); imports in three groups, the standard library, other
# modules, then this module's; go.mod and go.sum tidy. staticcheck and
# goimports are the module's own tools (the `tool` lines of go.mod), so
# their versions are pinned with the rest.
lint: vet
	$(GO) tool staticcheck $(PKG)
	@files=$$(find . -name node_modules -prune -o -name testdata -prune -o -name '*.go' -print | \
		xargs $(GO) tool goimports -l -local $(LOCAL)); \
	if [ -n "$$files" ]; then \
		echo "imports not grouped as goimports -local $(LOCAL) groups them (fix: $(GO) tool goimports -w -local $(LOCAL) FILE):"; \
		echo "$$files"; exit 1; \
	fi
	$(GO) mod tidy -diff

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
