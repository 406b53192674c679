# syntax=docker/dockerfile:1
# The irsa image: one static-ish binary at /irsa on distroless, running as non-root 65532.
#
#   docker build -t registry.example/irsa:0.1.0 .
#   irsa webhook manifests --namespace irsa-system --image registry.example/irsa:0.1.0 | kubectl apply -f -
#
# aws-lc-sys and rusqlite's bundled SQLite are built from C with the toolchain's gcc (cc
# crate, pre-generated bindings): no cmake, clang or nasm is needed.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not refetch the registry.
COPY Cargo.toml Cargo.lock ./
# .cargo/config.toml carries jemalloc's build-time settings (two arenas, pages returned after 1 s).
COPY .cargo ./.cargo
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p irsa \
    && install -D -m 0755 target/release/irsa /out/irsa

# glibc + libgcc, CA certificates, /etc/passwd entry for nonroot (65532), no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/irsa /irsa
USER 65532:65532
# The webhook's HTTPS port and metrics port (see `irsa webhook manifests`).
EXPOSE 8443 9999
ENTRYPOINT ["/irsa"]
CMD ["--help"]
