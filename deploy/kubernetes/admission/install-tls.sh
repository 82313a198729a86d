#!/bin/sh
# TLS for the admission webhook on clusters without cert-manager: makes a private CA and a serving
# certificate for <service>.<namespace>.svc with openssl, stores the certificate in the Secret the
# Deployment mounts (image-enforcer-tls), and writes the CA into the caBundle of the
# ValidatingWebhookConfiguration (and of the MutatingWebhookConfiguration, when digest pinning is
# installed) so the API server trusts the enforcer.
#
#   deploy/kubernetes/admission/install-tls.sh --apply-webhook   # first install: Secret, then the
#                                                                # webhook with caBundle already set
#   deploy/kubernetes/admission/install-tls.sh                   # renew: Secret, patch caBundle
#   deploy/kubernetes/admission/install-tls.sh --no-kubectl -o ./tls   # only write the files
#
# Run it again to renew (before --days runs out); the server reloads the certificate files when the
# kubelet refreshes the mounted Secret. Keep ca.key out of the cluster and out of version control.
set -eu

namespace=image-enforcer
service=image-enforcer
secret=image-enforcer-tls
webhook=image-enforcer
days=365
out=""
use_kubectl=1
apply_webhook=0
apply_mutating_webhook=0
here=$(cd "$(dirname "$0")" && pwd)
kubectl=${KUBECTL:-kubectl}

usage() {
	cat <<EOF
usage: $0 [options]
  -n, --namespace NS    namespace of the enforcer's Service and Secret (default: $namespace)
  -s, --service NAME    Service name (default: $service); the certificate names NAME.NS.svc
      --secret NAME     TLS Secret to create or replace (default: $secret)
      --webhook NAME    Validating/MutatingWebhookConfiguration to patch (default: $webhook)
      --days N          validity of the serving certificate in days (default: $days)
  -o, --out DIR         directory for ca.crt, ca.key, tls.crt, tls.key (default: a new temp dir)
      --apply-webhook   apply webhook/validating-webhook.yaml with caBundle set (when the
                        configuration does not exist yet, so it never runs without a CA)
      --apply-mutating-webhook
                        the same for mutating/webhook/mutating-webhook.yaml (digest pinning)
      --no-kubectl      only write the files; create no Secret, patch nothing
  -h, --help            this text
Environment: KUBECTL (default: kubectl) is the kubectl command to run.
EOF
}

die() {
	echo "install-tls.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	-n | --namespace) [ $# -ge 2 ] || die "$1 needs a value"; namespace=$2; shift 2 ;;
	-s | --service) [ $# -ge 2 ] || die "$1 needs a value"; service=$2; shift 2 ;;
	--secret) [ $# -ge 2 ] || die "$1 needs a value"; secret=$2; shift 2 ;;
	--webhook) [ $# -ge 2 ] || die "$1 needs a value"; webhook=$2; shift 2 ;;
	--days) [ $# -ge 2 ] || die "$1 needs a value"; days=$2; shift 2 ;;
	-o | --out) [ $# -ge 2 ] || die "$1 needs a value"; out=$2; shift 2 ;;
	--no-kubectl) use_kubectl=0; shift ;;
	--apply-webhook) apply_webhook=1; shift ;;
	--apply-mutating-webhook) apply_mutating_webhook=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

case "$days" in
'' | *[!0-9]*) die "--days must be a positive number, got '$days'" ;;
esac
[ "$days" -gt 0 ] || die "--days must be a positive number"
# DNS-1123 labels: the names end up in a certificate and in DNS.
for name in "$namespace" "$service"; do
	printf '%s' "$name" | grep -Eq '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' || die "'$name' is not a valid Kubernetes name"
done
command -v openssl >/dev/null 2>&1 || die "openssl is required"
if [ "$use_kubectl" = 1 ]; then
	command -v "$kubectl" >/dev/null 2>&1 || die "$kubectl not found (use --no-kubectl to only write the files)"
fi

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/image-enforcer-tls.XXXXXX")
fi
mkdir -p "$out"
umask 077

host="$service.$namespace.svc"

# The CA: a self-signed EC P-256 certificate that may only sign certificates.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-keyout "$out/ca.key" -out "$out/ca.crt" -days 3650 -subj "/CN=$service-webhook-ca" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>/dev/null || die "openssl could not create the CA"

# The serving certificate for the name the API server calls: <service>.<namespace>.svc.
cat >"$out/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host,DNS:$host.cluster.local,DNS:$service.$namespace,DNS:$service
EOF
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-keyout "$out/tls.key" -out "$out/server.csr" -subj "/CN=$host" 2>/dev/null ||
	die "openssl could not create the serving key"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
	-out "$out/tls.crt" -days "$days" -extfile "$out/server.ext" 2>/dev/null ||
	die "openssl could not sign the serving certificate"
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 600 "$out/ca.key" "$out/tls.key"

echo "wrote $out/ca.crt, $out/tls.crt and $out/tls.key (for $host, $days days)"

if [ "$use_kubectl" = 0 ]; then
	exit 0
fi

# The Secret the Deployment mounts at /etc/image-enforcer/tls (create or replace).
"$kubectl" -n "$namespace" create secret tls "$secret" --cert="$out/tls.crt" --key="$out/tls.key" \
	--dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null || die "could not create the Secret $namespace/$secret"
echo "secret $namespace/$secret created"

# caBundle is base64 of the PEM; base64 from coreutils wraps lines, which JSON must not contain.
ca_bundle=$(base64 <"$out/ca.crt" | tr -d '\n')

# set_ca_bundle KIND: writes the CA into every webhook of the configuration KIND/$webhook.
set_ca_bundle() {
	i=0
	count=$("$kubectl" get "$1" "$webhook" -o jsonpath='{range .webhooks[*]}x{end}')
	patch=""
	while [ "$i" -lt "${#count}" ]; do
		patch="$patch${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca_bundle\"}"
		i=$((i + 1))
	done
	[ -n "$patch" ] || die "$1 $webhook has no webhooks to set caBundle on"
	"$kubectl" patch "$1" "$webhook" --type=json -p "[$patch]" >/dev/null ||
		die "could not patch caBundle of $1 $webhook"
	echo "caBundle of $1 $webhook set"
}

# apply_with_ca_bundle KIND FILE: applies a shipped configuration with its caBundle filled in.
# The shipped manifests have the line "# caBundle: ..." under clientConfig, so a webhook is never
# registered without the CA (failurePolicy Fail would block workloads).
apply_with_ca_bundle() {
	[ "$webhook" = image-enforcer ] && [ "$namespace" = image-enforcer ] && [ "$service" = image-enforcer ] ||
		die "--apply-webhook and --apply-mutating-webhook apply the shipped configurations (webhook, namespace and service image-enforcer); edit $2 for other names"
	sed -e "s|^\( *\)# caBundle:.*\$|\1caBundle: $ca_bundle|" "$here/$2" |
		"$kubectl" apply -f - >/dev/null || die "could not apply the $1"
	echo "$1 $webhook applied with caBundle"
}

# The mutating webhook (digest pinning) is optional: renewed when it exists, applied when asked.
if "$kubectl" get mutatingwebhookconfiguration "$webhook" >/dev/null 2>&1; then
	set_ca_bundle mutatingwebhookconfiguration
elif [ "$apply_mutating_webhook" = 1 ]; then
	apply_with_ca_bundle mutatingwebhookconfiguration mutating/webhook/mutating-webhook.yaml
fi

if "$kubectl" get validatingwebhookconfiguration "$webhook" >/dev/null 2>&1; then
	set_ca_bundle validatingwebhookconfiguration
elif [ "$apply_webhook" = 1 ]; then
	apply_with_ca_bundle validatingwebhookconfiguration webhook/validating-webhook.yaml
else
	echo "validatingwebhookconfiguration $webhook does not exist yet: run this script with --apply-webhook,"
	echo "or apply deploy/kubernetes/admission/webhook with its caBundle set to:"
	echo "$ca_bundle"
fi
