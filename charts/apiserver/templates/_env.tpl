{{/* The ApiServerSource settings (APISERVER_*): the one-to-one ones generated in _settings.tpl;
the JSON ones and the state ConfigMap's name written here. */}}

{{/* The state ConfigMap's name ("" when disabled). */}}
{{- define "springhead-apiserver.stateConfigMap" -}}
{{- with .Values.apiserver.stateConfigMap -}}
{{- if .enabled -}}
{{- default (include "springhead-common.suffixedName" (dict "ctx" $ "suffix" "-state")) .name -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* APISERVER_RESOURCES: the entries as the source reads them (plural -> resource). */}}
{{- define "springhead-apiserver.resourcesJson" -}}
{{- $entries := list -}}
{{- range .Values.apiserver.resources -}}
{{- $entry := dict "apiVersion" .apiVersion "kind" .kind -}}
{{- if .selector }}{{ $_ := set $entry "selector" .selector }}{{ end -}}
{{- if .labelSelector }}{{ $_ := set $entry "labelSelector" .labelSelector }}{{ end -}}
{{- if .fieldSelector }}{{ $_ := set $entry "fieldSelector" .fieldSelector }}{{ end -}}
{{- if .plural }}{{ $_ := set $entry "resource" .plural }}{{ end -}}
{{- if not (kindIs "invalid" .namespaced) }}{{ $_ := set $entry "namespaced" .namespaced }}{{ end -}}
{{- $entries = append $entries $entry -}}
{{- end -}}
{{- toJson $entries -}}
{{- end -}}

{{- define "springhead-apiserver.env" -}}
{{- $spec := .Values.apiserver -}}
{{- $owner := "" -}}
{{- if or $spec.owner.apiVersion $spec.owner.kind }}{{ $owner = toJson $spec.owner }}{{ end -}}
{{- $selector := $spec.namespaceSelector -}}
{{- if kindIs "map" $selector }}{{ $selector = toJson $selector }}{{ end -}}
{{- include "springhead-apiserver.settingsEnv" . }}
{{- include "springhead-common.envFromDict" (dict
      "APISERVER_RESOURCES" (include "springhead-apiserver.resourcesJson" .)
      "APISERVER_NAMESPACE_SELECTOR" $selector
      "APISERVER_OWNER" $owner
      "APISERVER_STATE_CONFIGMAP" (include "springhead-apiserver.stateConfigMap" .)) }}
{{- end -}}
