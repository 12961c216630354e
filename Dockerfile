# One image for every meteo command: `docker run meteo <command>`; docker-compose.yml runs it
# as migrate, producer, consumer and dash. Two stages: a Rust toolchain builds the binary, and
# a small Debian runtime holds the binary, the migrations and the default city list.
#
#   docker build -t meteo .
#   docker run --rm meteo --help
#
# No `# syntax=` line, and nothing but the instructions both builders know: BuildKit then uses
# its built-in frontend instead of fetching one from Docker Hub, so the file builds offline with
# BuildKit and with the legacy builder (DOCKER_BUILDKIT=0) alike.

# The build stage's Rust: at least Cargo.toml's rust-version and every locked dependency's
# (tests/integration/containers.rs checks both). Bookworm, like the runtime stage, so the
# binary links against the same glibc and OpenSSL it finds there.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------------- build
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build

# rdkafka builds librdkafka from source (./configure and make, C and C++); OpenSSL for TLS to
# Kafka and to the weather API; zlib for Kafka compression and the city list's gzip.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config libssl-dev zlib1g-dev perl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# No debug symbols in the image: a smaller binary, and panics still name file and line.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# Dependencies first, in their own layer: with a placeholder crate they are compiled once and
# cached until Cargo.toml or Cargo.lock change, so editing a source file rebuilds meteo only.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/meteo target/release/deps/meteo-* \
        target/release/deps/libmeteo-* target/release/.fingerprint/meteo-*

COPY src src
RUN cargo build --release --locked --bin meteo

# -------------------------------------------------------------------------------- runtime
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="meteo" \
      org.opencontainers.image.description="Live weather for French cities: OpenWeatherMap -> Kafka -> Cassandra -> terminal dashboard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:${DEBIAN_RELEASE}-slim"

# What the binary links (ldd): libssl3/libcrypto3, zlib (already in the base image), glibc;
# CA certificates for https://api.openweathermap.org and TLS brokers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates zlib1g \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so volume permissions and `runAsUser` policies can name them.
RUN groupadd --system --gid 10001 meteo \
    && useradd --system --uid 10001 --gid meteo --home-dir /app --shell /usr/sbin/nologin meteo

WORKDIR /app
COPY --from=build /src/target/release/meteo /usr/local/bin/meteo
COPY cql/ /app/cql/
COPY data/cities.fr.json /app/data/cities.fr.json

# Absolute paths, so `migrate` finds its files and `produce` its cities whatever the working
# directory (`docker run -w`, a compose `working_dir`). C.UTF-8 ships with glibc: the dashboard
# draws its Unicode icons instead of falling back to ASCII.
ENV METEO_CQL_DIR=/app/cql \
    METEO_CITIES=/app/data/cities.fr.json \
    LANG=C.UTF-8 \
    RUST_LOG=info

# Numeric, so a platform can verify it is not root without reading /etc/passwd.
USER 10001:10001

# No HEALTHCHECK in the image: the same image runs one-shot commands (migrate, cities, a dash
# snapshot) and long-running ones (produce, consume), and only the latter serve /readyz, when
# given --metrics-addr. docker-compose.yml sets it for the producer and the consumer and asks
# /readyz with `meteo probe URL` (no curl here); a process that fails still exits, and compose
# restarts it. Kafka and Cassandra get real health checks there too, where migrate waits for them.
HEALTHCHECK NONE

ENTRYPOINT ["meteo"]
CMD ["--help"]
