#!/usr/bin/env bash
# gen-configmap.sh [OCIGATE] - prints manifests/base/configmap.yaml: a ConfigMap whose config.yaml is
# exactly `ocigate config default`. Usage: scripts/gen-configmap.sh build/ocigate > manifests/base/configmap.yaml
set -euo pipefail
bin=${1:-build/ocigate}
cat <<'HEAD'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ocigate-config
  namespace: ocigate-system
  labels:
    app.kubernetes.io/name: ocigate
# data.config.yaml is exactly `ocigate config default` (tests/unit/test_config.c checks it).
# Regenerate: scripts/gen-configmap.sh build/ocigate > manifests/base/configmap.yaml
data:
  config.yaml: |
HEAD
"$bin" config default | sed -e 's/^\(.\)/    \1/'
