# Spacecast build and test entry points. `make test` is the README's test
# command and what .ci/run runs.
GO ?= go
PKG := ./...

.PHONY: all build test deps test-short vet fuzz web bench-api

all: build

build:
	$(GO) build -o bin/spacecast ./cmd/spacecast

# deps installs what the tests need beyond Go (Debian packages, npm packages).
deps:
	./.ci/deps

test: deps
	$(GO) vet $(PKG)
	$(GO) test -count=1 -timeout 30m $(PKG)

test-short:
	$(GO) test -short -count=1 $(PKG)

vet:
	$(GO) vet $(PKG)
