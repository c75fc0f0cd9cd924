{{/*
The least RBAC the settings need - the template twin of springhead_apiserver.rbac.derive_rbac
(tests/charts proves both give the same rules):
- get, list, watch on exactly the configured resources: in a Role per watched namespace, or in a
  ClusterRole when watching all namespaces ("*", a namespace selector) or a cluster-scoped kind;
- list, watch on namespaces when a namespace label selector filters;
- get, patch on the state ConfigMap (by name) in the release's namespace.
Rules sharing groups, verbs and names are merged, resources sorted, rules sorted as tuples.
*/}}

{{/* Built-in cluster-scoped kinds, "group/Kind" (core group: "/Kind"). */}}
{{- define "springhead-apiserver.clusterScopedKinds" -}}
/Namespace /Node /PersistentVolume /ComponentStatus
rbac.authorization.k8s.io/ClusterRole rbac.authorization.k8s.io/ClusterRoleBinding
apiextensions.k8s.io/CustomResourceDefinition apiregistration.k8s.io/APIService
admissionregistration.k8s.io/MutatingWebhookConfiguration
admissionregistration.k8s.io/ValidatingWebhookConfiguration
admissionregistration.k8s.io/ValidatingAdmissionPolicy
admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding
storage.k8s.io/StorageClass storage.k8s.io/CSIDriver storage.k8s.io/CSINode
storage.k8s.io/VolumeAttachment scheduling.k8s.io/PriorityClass node.k8s.io/RuntimeClass
networking.k8s.io/IngressClass certificates.k8s.io/CertificateSigningRequest
flowcontrol.apiserver.k8s.io/FlowSchema flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration
{{- end -}}

{{/* Kubernetes' guess of a kind's resource name (UnsafeGuessKindToResource). */}}
{{- define "springhead-apiserver.guessPlural" -}}
{{- $singular := lower . -}}
{{- if hasSuffix "endpoints" $singular -}}{{ $singular }}
{{- else if hasSuffix "s" $singular -}}{{ $singular }}es
{{- else if hasSuffix "y" $singular -}}{{ trimSuffix "y" $singular }}ies
{{- else -}}{{ $singular }}s
{{- end -}}
{{- end -}}

{{/* A rule's sort key: its tuples (groups, resources, verbs, names) each encoded as elements
joined by \x01 and ended by \x00, so byte order is Python's tuple order. */}}
{{- define "springhead-apiserver.ruleKey" -}}
{{- $join := printf "%c" 1 -}}{{- $end := printf "%c" 0 -}}
{{- range list .apiGroups .resources .verbs (.resourceNames | default list) -}}
{{- join $join . }}{{ $end -}}
{{- end -}}
{{- end -}}

{{/* Merge rules ({apiGroups, resources, verbs, resourceNames}) sharing groups, verbs and names;
returns them sorted, as JSON. */}}
{{- define "springhead-apiserver.mergeRules" -}}
{{- $groups := dict -}}
{{- range . -}}
{{- $id := printf "%s|%s|%s" (join "," .apiGroups) (join "," .verbs) (join "," (.resourceNames | default list)) -}}
{{- $merged := get $groups $id | default (dict "apiGroups" .apiGroups "verbs" .verbs "resourceNames" (.resourceNames | default list) "resources" list) -}}
{{- $_ := set $merged "resources" (concat $merged.resources .resources | uniq | sortAlpha) -}}
{{- $_ := set $groups $id $merged -}}
{{- end -}}
{{- $byKey := dict -}}
{{- range $id, $rule := $groups -}}
{{- $_ := set $byKey (include "springhead-apiserver.ruleKey" $rule) $rule -}}
{{- end -}}
{{- $sorted := list -}}
{{- range $key := keys $byKey | sortAlpha -}}
{{- $rule := get $byKey $key -}}
{{- $out := dict "apiGroups" $rule.apiGroups "resources" $rule.resources "verbs" $rule.verbs -}}
{{- if $rule.resourceNames }}{{ $_ := set $out "resourceNames" $rule.resourceNames }}{{ end -}}
{{- $sorted = append $sorted $out -}}
{{- end -}}
{{- toJson $sorted -}}
{{- end -}}

{{/* {"cluster": [rules], "namespaced": {namespace: [rules]}} as JSON. */}}
{{- define "springhead-apiserver.rbacRules" -}}
{{- $spec := .Values.apiserver -}}
{{- $clusterScoped := include "springhead-apiserver.clusterScopedKinds" . | splitList "\n" | join " " | splitList " " -}}
{{- $selector := $spec.namespaceSelector -}}
{{- $selectorSet := or (kindIs "map" $selector) (and (kindIs "string" $selector) (ne (trim (toString $selector)) "")) -}}
{{- $allNamespaces := or $selectorSet (eq (toJson $spec.namespaces) "[\"*\"]") -}}
{{- $filters := false -}}
{{- if kindIs "map" $selector -}}
{{- $filters = or (not (empty $selector.matchLabels)) (not (empty $selector.matchExpressions)) -}}
{{- else if $selectorSet -}}
{{- $filters = true -}}
{{- end -}}
{{- $watched := $spec.namespaces | default (list .Release.Namespace) -}}
{{- $cluster := list -}}
{{- $namespaced := dict -}}
{{- range $spec.resources -}}
{{- $group := "" -}}
{{- if contains "/" .apiVersion }}{{ $group = regexReplaceAll "/[^/]*$" .apiVersion "" }}{{ end -}}
{{- $plural := .plural | default (include "springhead-apiserver.guessPlural" .kind) -}}
{{- $isNamespaced := not (has (printf "%s/%s" $group .kind) $clusterScoped) -}}
{{- if not (kindIs "invalid" .namespaced) }}{{ $isNamespaced = .namespaced }}{{ end -}}
{{- $rule := dict "apiGroups" (list $group) "resources" (list $plural) "verbs" (list "get" "list" "watch") -}}
{{- if and $isNamespaced (not $allNamespaces) -}}
{{- range $namespace := $watched -}}
{{- $_ := set $namespaced $namespace (append (get $namespaced $namespace | default list) $rule) -}}
{{- end -}}
{{- else -}}
{{- $cluster = append $cluster $rule -}}
{{- end -}}
{{- end -}}
{{- if $filters -}}
{{- $cluster = append $cluster (dict "apiGroups" (list "") "resources" (list "namespaces") "verbs" (list "list" "watch")) -}}
{{- end -}}
{{- with include "springhead-apiserver.stateConfigMap" . -}}
{{- $rule := dict "apiGroups" (list "") "resources" (list "configmaps") "verbs" (list "get" "patch") "resourceNames" (list .) -}}
{{- $_ := set $namespaced $.Release.Namespace (append (get $namespaced $.Release.Namespace | default list) $rule) -}}
{{- end -}}
{{- $result := dict "cluster" (include "springhead-apiserver.mergeRules" $cluster | fromJsonArray) "namespaced" dict -}}
{{- range $namespace, $rules := $namespaced -}}
{{- $_ := set $result.namespaced $namespace (include "springhead-apiserver.mergeRules" $rules | fromJsonArray) -}}
{{- end -}}
{{- toJson $result -}}
{{- end -}}
