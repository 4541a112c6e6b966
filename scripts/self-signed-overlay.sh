#!/usr/bin/env bash
# self-signed-overlay.sh [OCIGATE] [DIR] - makes the serving certificate of the self-signed
# overlay with `ocigate certs`: a CA and a certificate for the Service ocigate.ocigate-system.svc,
# written to DIR (default manifests/overlays/self-signed/generated, git-ignored: it holds the
# private keys) as ca.crt, ca.key, tls.crt and tls.key. `kubectl apply -k
# manifests/overlays/self-signed` then creates the Secret ocigate-tls from tls.crt, tls.key and
# ca.crt (never ca.key, which stays here for `ocigate certs --renew DIR`) and puts ca.crt into the
# caBundle of the webhook configurations. Existing files are never overwritten: remove DIR to start over (a new CA, so
# apply the overlay again, which updates the caBundle and the Secret together).
# Environment: OG_NAMESPACE (ocigate-system), OG_SERVICE (ocigate), OG_DAYS (365).
set -euo pipefail
bin=${1:-build/ocigate}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$root/manifests/overlays/self-signed/generated}
ns=${OG_NAMESPACE:-ocigate-system}
svc=${OG_SERVICE:-ocigate}
days=${OG_DAYS:-365}

if [ ! -x "$bin" ]; then
    echo "self-signed-overlay.sh: $bin is not an executable ocigate (build it: make build)" >&2
    exit 2
fi
for f in ca.crt ca.key tls.crt tls.key; do
    if [ -e "$dir/$f" ]; then
        echo "self-signed-overlay.sh: $dir/$f exists; keeping it (remove $dir for a new CA)" >&2
        exit 1
    fi
done
# The first name is the one the apiserver dials (service.namespace.svc); ocigate certs prints
# the caBundle, which the overlay takes from ca.crt instead.
"$bin" certs --out "$dir" --days "$days" --host "$svc.$ns.svc" \
    --host "$svc.$ns.svc.cluster.local" >/dev/null
echo "self-signed-overlay.sh: next: kubectl apply -k $(dirname "$dir")" >&2
