# Every target carries the approved toolchain and the goolm tag (pure-Go olm
# for end-to-end encryption); cgo stays on because bridge encryption needs it.
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED := 1
TAGS := -tags goolm

.PHONY: run test bench build fmt

## run: start the server on the embedded default (SQLite in ./gatehouse-data)
run:
	go run $(TAGS) ./cmd/gatehouse

## test: vet and run every test (PostgreSQL too when GATEHOUSE_TEST_POSTGRES is set)
test:
	go vet $(TAGS) ./...
	go test $(TAGS) -count=1 -timeout 30m ./...

## bench: the homeserver benchmark (messages/s, /sync wake-up, initial sync, idle RSS)
bench:
	go run $(TAGS) ./tools/bench

build:
	go build $(TAGS) -o bin/gatehouse ./cmd/gatehouse

fmt:
	gofmt -w $$(git ls-files '*.go')
