# roomcast container image: a static binary on an empty base.
#
#   docker build -t roomcast .
#   docker run --rm -p 8080:8080 -e ROOMCAST_AUTH_SECRET=$(openssl rand -hex 32) roomcast
#
# Ports: 8080 (WebSocket /ws, admin API /api/v1, pages, /metrics, /healthz,
# /readyz). Config: /etc/roomcast/roomcast.yaml (configs/container.yaml;
# mount your own over it). Runs as uid 65532, not root. docs/operations.md.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same command the packaging test runs: a static build from the module
# path (go install works from it too).
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" github.com/roomcast/roomcast/cmd/roomcast

FROM scratch
COPY --from=build /out/roomcast /roomcast
COPY configs/container.yaml /etc/roomcast/roomcast.yaml
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/roomcast", "-config", "/etc/roomcast/roomcast.yaml"]
