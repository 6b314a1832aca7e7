# syntax=docker/dockerfile:1
# usher: a static binary on distroless, run as a non-root user.
#   docker build -t usher --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -e REDIS_URL=redis://host.docker.internal:6379/0 -p 3000:3000 usher

# Build stage: the Go version of go.mod (checked by cmd/usher's tests).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/usher ./cmd/usher

# Final stage: no shell, no package manager; CA certificates for Slack and
# Teams over TLS come with distroless/static.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usher /usr/local/bin/usher
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/usher"]
CMD ["serve"]
