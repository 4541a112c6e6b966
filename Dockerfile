# ocigate container image: a Debian bookworm build stage with the -dev packages, and a slim
# runtime stage with only the shared libraries the binary links (libmicrohttpd over GnuTLS,
# cJSON, libyaml, OpenSSL libcrypto, libcurl). Runs as the unprivileged uid 65532.
#
#   docker build -t ocigate .
#   docker run --rm -p 8443:8443 -v "$PWD/certs/dev:/etc/ocigate/tls:ro" ocigate
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        cmake make gcc libc6-dev pkg-config \
        libmicrohttpd-dev libcjson-dev libyaml-dev libssl-dev libcurl4-openssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY lib/ lib/
COPY server/ server/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOG_WERROR=ON \
 && cmake --build build -j "$(nproc)" --target ocigate \
 && strip build/ocigate \
 && build/ocigate version

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libcjson1 libyaml-0-2 libssl3 libcurl4 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ocigate /usr/local/bin/ocigate
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/ocigate"]
CMD ["serve", "--listen", ":8443", \
     "--tls-cert", "/etc/ocigate/tls/tls.crt", "--tls-key", "/etc/ocigate/tls/tls.key"]
