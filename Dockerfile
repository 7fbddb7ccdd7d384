# The pgpilot image: the agent (PID 1) beside PostgreSQL 15, for `pgpilot k8s render`.
#
#   docker build -t pgpilot:0.1.0 .
#
# Without a registry (no debian:bookworm to pull), scripts/build-image.sh imports a debootstrap'd
# Debian as the base and passes it as DEBIAN_IMAGE.
ARG DEBIAN_IMAGE=debian:bookworm

# ---- build: compile pgpilot with the packages of scripts/install-deps.sh -----------------------
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      build-essential cmake pkgconf \
      libcpp-httplib-dev libcurl4-openssl-dev libssl-dev libpq-dev nlohmann-json3-dev \
      libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
COPY tests ./tests
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target pgpilot \
 && strip /build/pgpilot

# ---- runtime: PostgreSQL 15 and the agent ------------------------------------------------------
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# The postgres user first, with fixed ids: the StatefulSet runs as 999:999 with fsGroup 999, and
# postgresql-common keeps an existing postgres user instead of picking the next free id.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
# No "main" cluster: the agent runs initdb (or clones) into its own data directory.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      postgresql-15 ca-certificates \
      libcpp-httplib0.11 libcurl4 libfmt9 libpq5 libspdlog1.10 libsqlite3-0 libssl3 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/pgpilot /etc/pgpilot \
 && chown 999:999 /var/lib/pgpilot \
 && chmod 0700 /var/lib/pgpilot
COPY --from=build /build/pgpilot /usr/local/bin/pgpilot
USER 999:999
WORKDIR /var/lib/pgpilot
EXPOSE 5432 8008
# The agent itself is PID 1: it reaps its children and turns SIGTERM into a clean shutdown
# (PostgreSQL stopped fast, the leader lease released). No shell in between.
ENTRYPOINT ["/usr/local/bin/pgpilot"]
CMD ["agent", "--config", "/etc/pgpilot/agent.yaml"]
