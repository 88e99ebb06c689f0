# Convenience targets; the README's commands are the source of truth.
.PHONY: run test proto bench

run:
	go run ./cmd/roomcast

test:
	./scripts/test.sh

# Regenerate the protobuf code (needs protoc from Debian's protobuf-compiler
# and protoc-gen-go: go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
proto:
	PATH="$$PATH:$$(go env GOPATH)/bin" go generate ./proto/...

bench:
	go test -run='^$$' -bench=. -benchmem ./ringbuf ./fanout ./protocol
