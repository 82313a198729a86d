#!/usr/bin/env bash
# Prints the Secrets that Clair, its PostgreSQL and the enforcer's sync container need, with one
# pre-shared key written to both namespaces so the two sides always agree:
#
#   deploy/kubernetes/clair/make-secrets.sh | kubectl apply -f -
#
#   clair/clair-postgres             password   PostgreSQL's password (also Clair's PGPASSWORD)
#   clair/clair-auth                 auth.yaml  Clair config drop-in: auth.psk.key and .iss
#   image-enforcer/image-enforcer-clair  psk    the same key, as CLAIR_PSK for the sync
#
# New random values each run, unless given in the environment: CLAIR_PSK (base64) and
# POSTGRES_PASSWORD. PostgreSQL keeps the password it was initialised with, so when running this
# again later pass the old one:
#   POSTGRES_PASSWORD=$(kubectl -n clair get secret clair-postgres -o jsonpath='{.data.password}' | base64 -d) \
#     deploy/kubernetes/clair/make-secrets.sh | kubectl apply -f -
# A new key takes effect after `kubectl -n clair rollout restart deployment/clair` and
# `kubectl -n image-enforcer rollout restart deployment/image-enforcer`.
set -euo pipefail

# The JWT issuer the sync signs with (sync-config.yaml: clair.pskIssuer).
ISSUER=${CLAIR_PSK_ISSUER:-image-enforcer}
PSK=${CLAIR_PSK:-$(openssl rand -base64 32)}
PASSWORD=${POSTGRES_PASSWORD:-$(openssl rand -hex 24)}

if ! printf '%s' "$PSK" | grep -Eq '^[A-Za-z0-9+/]+={0,2}$'; then
  echo "make-secrets.sh: CLAIR_PSK must be base64 (e.g. openssl rand -base64 32)" >&2
  exit 1
fi
if ! printf '%s' "$PASSWORD" | grep -Eq '^[A-Za-z0-9._~-]+$'; then
  echo "make-secrets.sh: POSTGRES_PASSWORD may use letters, digits and . _ ~ - only" >&2
  exit 1
fi
if ! printf '%s' "$ISSUER" | grep -Eq '^[A-Za-z0-9._-]+$'; then
  echo "make-secrets.sh: CLAIR_PSK_ISSUER may use letters, digits and . _ - only" >&2
  exit 1
fi

cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: clair-postgres
  namespace: clair
  labels:
    app.kubernetes.io/name: clair-postgres
type: Opaque
stringData:
  password: "${PASSWORD}"
---
apiVersion: v1
kind: Secret
metadata:
  name: clair-auth
  namespace: clair
  labels:
    app.kubernetes.io/name: clair
type: Opaque
stringData:
  auth.yaml: |
    auth:
      psk:
        key: "${PSK}"
        iss: ["${ISSUER}"]
---
apiVersion: v1
kind: Secret
metadata:
  name: image-enforcer-clair
  namespace: image-enforcer
  labels:
    app.kubernetes.io/name: image-enforcer
type: Opaque
stringData:
  psk: "${PSK}"
YAML
