# Authorization for the policy server (`run --server --authorization=basic`): each client may do
# only what its role needs, so a leaked webhook token cannot rewrite policies or data.
#
# Clients are told apart by their bearer token (--authentication=token), whose SHA-256 digest
# data.authz.clients maps to a role (see clients.example.yaml); the policy and data never hold
# the tokens themselves. The health checks and the admission webhooks (/v1/admit, /v1/mutate)
# are open and never reach this policy.
package system.authz

import rego.v1

default allow := false

role := data.authz.clients[crypto.sha256(input.identity)]

# The API server's ImagePolicyWebhook: the decision, nothing else.
allow if {
	role == "webhook"
	input.method == "POST"
	input.path == ["v0", "data", "io", "k8s", "image_policy", "verify"]
}

# The layer sync: reads and writes its documents under data.docker and data.clair.
allow if {
	role == "sync"
	input.method in {"GET", "PUT", "PATCH", "DELETE"}
	input.path[0] == "v1"
	input.path[1] == "data"
	input.path[2] in {"docker", "clair"}
}

# Prometheus: the metrics.
allow if {
	role == "metrics"
	input.method == "GET"
	input.path == ["metrics"]
}

# Administrators: everything (policies, data, queries, metrics).
allow if role == "admin"
