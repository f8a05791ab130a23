# syntax=docker/dockerfile:1
# zeroetl-operator image: `cargo xtask release` prints the `docker build` command with the version tag.
# Build stage: the release binary from the workspace (rust-version in Cargo.toml).
ARG RUST_VERSION=1.94
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target dir between builds; the binary is copied out of the cache.
# `cargo xtask release` runs this same command (everything up to `cargo build`) on the host. glibc is linked
# statically (with an explicit --target, RUSTFLAGS skip build scripts and proc macros); static glibc still
# reads /etc/nsswitch.conf for name lookups, and the runtime image is Debian 12 like this stage.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    host="$(rustc -vV | sed -n 's/^host: //p')" \
    && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p zeroetl-controller --bin zeroetl-operator --target "$host" \
    && cp "target/$host/release/zeroetl-operator" /zeroetl-operator

# Runtime stage: glibc + libgcc + CA certificates, no shell, uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="zeroetl-operator" \
      org.opencontainers.image.description="Kubernetes operator for AWS zero-ETL integrations and Redshift connections" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=build /zeroetl-operator /zeroetl-operator
# nonroot is uid 65532; the chart and config/manager also set runAsUser: 65532 so that runAsNonRoot can be
# verified by the kubelet.
USER nonroot
# /healthz, /readyz, /metrics
EXPOSE 8080
ENTRYPOINT ["/zeroetl-operator"]
CMD ["run"]
