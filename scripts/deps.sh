#!/usr/bin/env bash
# deps.sh build|test|bench|fuzz - makes sure the Debian packages that step needs are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and
# fails, so that `make run` and `make test` work on a fresh Debian machine.
set -eu
build=(cmake make gcc pkg-config libmicrohttpd-dev libcjson-dev libyaml-dev libssl-dev
    libcurl4-openssl-dev zlib1g-dev)
test=("${build[@]}" python3 python3-yaml python3-jsonpatch python3-jsonschema curl openssl
    clang-format ca-certificates)
bench=("${build[@]}" nginx-light wrk python3 python3-yaml openssl util-linux procps)
# libFuzzer and the sanitizer runtimes come with clang's compiler-rt (libclang-rt-dev).
fuzz=("${build[@]}" clang libclang-rt-dev)
case "${1:-build}" in
build) want=("${build[@]}") ;;
test) want=("${test[@]}") ;;
bench) want=("${bench[@]}") ;;
fuzz) want=("${fuzz[@]}") ;;
*) echo "usage: $0 build|test|bench|fuzz" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
    echo "deps: missing Debian packages; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
