# syntax=docker/dockerfile:1
# Build: docker build -t laminar .
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked && strip target/release/laminar

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 openssh-client git tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/laminar /etc/laminar \
 && chown 65532:65532 /var/lib/laminar
COPY --from=build /src/target/release/laminar /usr/local/bin/laminar
USER 65532:65532
ENV HOME=/var/lib/laminar
VOLUME ["/var/lib/laminar"]
EXPOSE 8080
ENTRYPOINT ["laminar"]
CMD ["run", "--config", "/etc/laminar/laminar.yaml"]
