# Convenience targets; the README's commands are the source of truth.
.PHONY: run test proto web-proto bench

run:
	go run ./cmd/roomcast

test:
	./scripts/test.sh

# Regenerate the protobuf code (needs protoc from Debian's protobuf-compiler
# and protoc-gen-go: go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
proto:
	PATH="$$PATH:$$(go env GOPATH)/bin" go generate ./proto/...

# Rebuild the browser SDK's protobuf module (web/static/vendor/roomcast-pb.min.js)
# from npm (versions pinned in web/pbjs/package-lock.json) and roomcast.proto.
# Run after `make proto` whenever roomcast.proto changes; commit the result.
web-proto:
	cd web/pbjs && npm ci --no-audit --no-fund && sh build.sh

bench:
	go test -run='^$$' -bench=. -benchmem ./ringbuf ./fanout ./wire
