# The image policy library: the common image rules, driven by the configuration document at
# data.image_policy (data/image_policy/config.yaml; see docs/policy-library.md), so that users
# write no Rego for the common cases.
#
# It reads the ImageReview input of both protocols (input.spec.containers[].image,
# input.spec.namespace) and parses every image with data.lib.image_reference, so it decides the
# same on the ImagePolicyWebhook and on the admission webhook.
#
# Outputs (plugged into data.io.k8s.image_policy by policies/default.rego):
#   violations         {"rule", "image", "action", "message"} for every rule an image breaks
#   deny               messages of violations whose action is "enforce"
#   warn               messages of violations whose action is "warn"
#   audit_annotations  {rule: "message; message"} for violations whose action is "audit"
#   config_problems    mistakes in the configuration (the library ignores what it cannot use)
#
# Without a configuration document nothing is checked.
package library.image_policy

import rego.v1

import data.lib.image_reference

default config := {}

config := data.image_policy if is_object(data.image_policy)

configured if is_object(data.image_policy)

namespace := object.get(input, ["spec", "namespace"], "")

actions := {"enforce", "warn", "audit", "off"}

# Every image of the review, parsed once.
images contains image if {
	some container in input.spec.containers
	image := container.image
}

# Each image is parsed once per decision (a rule's value is computed once per query).
references[image] := image_reference.parse(image) if some image in images

# The images the rules check, with their references: valid and not exempt. Computed once, so that
# each rule iterates these instead of checking every image again.
_checked[image] := r if {
	some image, r in references
	r.valid
	not _exempt(r)
}

# ---------------------------------------------------------------------------------------------
# Settings

# setting(value, ns): a setting may be one value for every namespace, or an object keyed by
# namespace name with "*" as the default. A namespace that is neither listed nor covered by "*"
# has no value (the rule does not apply there).
setting(value, ns) := value if {
	not is_object(value)
} else := v if {
	v := value[ns]
} else := v if {
	v := value["*"]
}

# rule_config(rule): the rule's section of the configuration ({} when absent).
rule_config(rule) := c if {
	c := config[rule]
	is_object(c)
} else := {}

# action(rule): what a violation of the rule does in this namespace; rules are on ("enforce")
# once they have a configuration section, unless told otherwise.
action(rule) := a if {
	configured
	a := setting(object.get(rule_config(rule), "action", "enforce"), namespace)
	a in actions
}

# _active_action(rule): the rule's action when it is on and the namespace is not exempt.
# The rules ask for it after their own settings, so a rule with nothing to check costs nothing.
_active_action(rule) := a if {
	a := action(rule)
	a != "off"
	not namespace_exempt
}

# ---------------------------------------------------------------------------------------------
# Exemptions

namespace_exempt if {
	some pattern in object.get(config, ["exempt", "namespaces"], [])
	glob.match(pattern, null, namespace)
}

_exempt_images := object.get(config, ["exempt", "images"], [])

_exempt(r) if {
	some pattern in _exempt_images
	image_matches(pattern, r)
}

# ---------------------------------------------------------------------------------------------
# Image patterns (globs on the normalised reference)
#
#   "quay.io"                  every image of a registry (no "/": the registry alone)
#   "*.gcr.io"                 registry globs use "." as the delimiter: "*" is one DNS label
#   "docker.io/library/*"      after the first "/", globs on the repository path with "/" as the
#                              delimiter: "*" is one path component, "**" any number
#   "quay.io/org/app:v1.*"     with ":" or "@" the pattern also covers the tag and digest
#
# The registry and the path are matched separately, so "myregistry.io/*" can never match
# "myregistry.io.evil.com/x", and "nginx" is compared as "docker.io/library/nginx".
image_matches(pattern, r) if {
	not contains(pattern, "/")
	glob.match(pattern, ["."], r.registry)
}

image_matches(pattern, r) if {
	i := indexof(pattern, "/")
	i > 0
	glob.match(substring(pattern, 0, i), ["."], r.registry)
	_path_matches(substring(pattern, i + 1, -1), r)
}

_path_matches(p, r) if {
	not regex.match(`[:@]`, p)
	glob.match(p, ["/"], r.repository)
}

_path_matches(p, r) if {
	regex.match(`[:@]`, p)
	glob.match(p, ["/"], trim_prefix(r.normalized, concat("", [r.registry, "/"])))
}

# ---------------------------------------------------------------------------------------------
# Outputs

deny contains v.message if {
	some v in violations
	v.action == "enforce"
}

warn contains v.message if {
	some v in violations
	v.action == "warn"
}

audit_annotations[rule] := concat("; ", sort(messages)) if {
	some rule in {v.rule | some v in violations; v.action == "audit"}
	messages := [v.message | some v in violations; v.rule == rule; v.action == "audit"]
}

# ---------------------------------------------------------------------------------------------
# Rule "references": an image the reference grammar refuses can never be checked by the other
# rules, so it is a violation of its own (on by default once the library is configured).

violations contains {"rule": "references", "image": image, "action": a, "message": msg} if {
	a := _active_action("references")
	some image, r in references
	not r.valid
	msg := sprintf("image %q is not a valid image reference: %s", [image, r.error])
}

# ---------------------------------------------------------------------------------------------
# Rule "registries": images must come from an allowed registry / repository.
#   registries: {action, allowed: {"*": [patterns], "<namespace>": [patterns]}}

violations contains {"rule": "registries", "image": image, "action": a, "message": msg} if {
	allowed := setting(rule_config("registries").allowed, namespace)
	is_array(allowed)
	a := _active_action("registries")
	some image, r in _checked
	not _any_matches(allowed, r)
	msg := sprintf("image %s (%s) is not from a registry allowed in namespace %q (allowed: %s)", [image, r.name, namespace, _list(allowed)])
}

_any_matches(patterns, r) if {
	some p in patterns
	image_matches(p, r)
}

_list(xs) := "none" if count(xs) == 0

_list(xs) := concat(", ", xs) if count(xs) > 0

# ---------------------------------------------------------------------------------------------
# Rule "naming": repository paths and tags must follow naming patterns (RE2 regular expressions,
# unanchored unless written with ^...$).
#   naming: {action, repository: {"*": "<regex>"}, tag: {"*": "<regex>"}}

violations contains {"rule": "naming", "image": image, "action": a, "message": msg} if {
	pattern := setting(rule_config("naming").repository, namespace)
	is_string(pattern)
	pattern != ""
	a := _active_action("naming")
	some image, r in _checked
	not regex.match(pattern, r.repository)
	msg := sprintf("image %s: repository %q does not match the naming pattern %q", [image, r.repository, pattern])
}

violations contains {"rule": "naming", "image": image, "action": a, "message": msg} if {
	pattern := setting(rule_config("naming").tag, namespace)
	is_string(pattern)
	pattern != ""
	a := _active_action("naming")
	some image, r in _checked
	r.effective_tag != null
	not regex.match(pattern, r.effective_tag)
	msg := sprintf("image %s: tag %q does not match the naming pattern %q", [image, r.effective_tag, pattern])
}

# ---------------------------------------------------------------------------------------------
# Rule "pinning": how precisely an image must be pinned, from weakest to strongest:
#   "any"        nothing required
#   "tag"        a tag or digest must be written ("nginx" is refused, "nginx:latest" is not)
#   "no_latest"  the pulled tag must not be "latest", written or implied
#   "digest"     a digest must be written (a tag may accompany it)
#   pinning: {action, require: {"*": "no_latest", "production": "digest"}}

pinning_levels := {"any": 0, "tag": 1, "no_latest": 2, "digest": 3}

violations contains {"rule": "pinning", "image": image, "action": a, "message": msg} if {
	level := pinning_levels[setting(rule_config("pinning").require, namespace)]
	level > 0 # "any" finds nothing
	a := _active_action("pinning")
	some image, r in _checked
	some msg in _pinning_problems(image, r, level)
}

_pinning_problems(image, r, level) := {msg |
	level >= 1
	r.tag == null
	r.digest == null
	msg := sprintf("image %s has no tag: it pulls whatever \"latest\" points at", [image])
} | {msg |
	level >= 2
	r.tag == "latest"
	r.digest == null
	msg := sprintf("image %s uses the mutable tag \"latest\"", [image])
} | {msg |
	level >= 3
	r.digest == null
	msg := sprintf("image %s is not pinned by digest", [image])
}

# ---------------------------------------------------------------------------------------------
# Digest pinning, for the mutating admission webhook (POST /v1/mutate): with pin_digests on in a
# namespace, an image written without a digest is replaced by the same reference plus the digest
# its tag points at now (data.docker.images, kept by image-enforcer sync). The image that was
# scanned and admitted is then the image that runs, even if the tag is moved later. Images the
# sync has not seen are left as they are (the vulnerabilities rule decides what to do with them).
#   pinning: {pin_digests: {"*": false, "production": true}}

image_replacements[image] := sprintf("%s@%s", [image, digest]) if {
	setting(object.get(rule_config("pinning"), "pin_digests", false), namespace) == true
	not namespace_exempt
	some image, r in _checked
	r.digest == null
	digest := data.docker.images[sprintf("%s:%s", [r.name, r.effective_tag])].digest
	regex.match(`^sha256:[0-9a-f]{64}$`, digest)
}

# ---------------------------------------------------------------------------------------------
# Configuration problems, for `image-enforcer review` and tests.

config_problems contains sprintf("%s.action: %v is not one of enforce, warn, audit, off", [rule, a]) if {
	some rule in rules
	c := rule_config(rule)
	some a in _values(object.get(c, "action", "enforce"))
	not a in actions
}

config_problems contains sprintf("pinning.require: %v is not one of any, tag, no_latest, digest", [v]) if {
	some v in _values(object.get(rule_config("pinning"), "require", "any"))
	not pinning_levels[v]
}

config_problems contains sprintf("pinning.pin_digests: %v is not true or false", [v]) if {
	some v in _values(object.get(rule_config("pinning"), "pin_digests", false))
	not is_boolean(v)
}

rules := {"references", "registries", "naming", "pinning", "vulnerabilities"}

_values(v) := [x | some x in v] if is_object(v)

_values(v) := [v] if not is_object(v)
