# Mock webhook calls: the ImageReview documents the API server's ImagePolicyWebhook would send.
# Try them in the shell:  > package repl  > input = data.mock.allowed  > data.io.k8s.image_policy.verify
package mock

import rego.v1

# Images without known vulnerabilities, in the production namespace.
allowed := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"spec": {
		"containers": [
			{"image": "alpine:3.5"},
			{"image": "openpolicyagent/opa:0.4.10"},
		],
		"namespace": "production",
	},
}

# WordPress 4-apache: its base layer has features with known vulnerabilities (see data/clair).
denied := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"spec": {
		"containers": [
			{"image": "wordpress:4-apache"},
			{"image": "openpolicyagent/opa:0.4.10"},
		],
		"namespace": "production",
	},
}
