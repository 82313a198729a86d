# Entry point of the image policy: the ImageReview answer that the Kubernetes API server's
# ImagePolicyWebhook expects back (it reads only `status`).
#
#   data.io.k8s.image_policy.verify
package io.k8s.image_policy

import rego.v1

verify := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"status": status,
}

# An image review is allowed when no rule denies it.
default allow := false

allow if count(deny) == 0

status := {"allowed": true} if allow

# The API server shows the reason to the user on a 403: name every denied image and why.
status := {"allowed": false, "reason": concat("; ", deny)} if not allow
