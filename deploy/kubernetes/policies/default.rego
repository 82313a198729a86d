# Entry point of the image policy: the ImageReview answer that the Kubernetes API server's
# ImagePolicyWebhook expects back (it reads only `status`).
#
#   data.io.k8s.image_policy.verify
package io.k8s.image_policy

import rego.v1

import data.library.image_policy as library

verify := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"status": status,
}

# An image review is allowed when no rule denies it.
default allow := false

allow if count(deny) == 0

status := object.union(decision, details)

decision := {"allowed": true} if allow

# The API server shows the reason to the user on a 403: name every denied image and why.
decision := {"allowed": false, "reason": concat("; ", deny)} if not allow

# The image policy library (policies/library, configured by data.image_policy) adds its denials,
# and its warnings and audit annotations. Both are left out of the status when empty, so an
# ImageReview answer stays {"allowed": true} when nothing has to be said. The admission webhook
# turns status.warnings into AdmissionReview warnings; the ImagePolicyWebhook ignores them.
deny contains msg if some msg in library.deny

warnings contains msg if some msg in library.warn

audit_annotations[key] := value if some key, value in library.audit_annotations

details["warnings"] := sort(warnings) if count(warnings) > 0

details["auditAnnotations"] := audit_annotations if count(audit_annotations) > 0

# The mutating admission webhook (POST /v1/mutate) asks for this: images to replace, from the
# image as written to the image to use (the library pins tags to digests where configured).
image_replacements[image] := replacement if some image, replacement in library.image_replacements
