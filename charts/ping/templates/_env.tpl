{{/* The PingSource settings as PING_* variables: the one-to-one ones are generated
(_settings.tpl); leader election is written here (the Lease variables only when enabled). */}}
{{- define "springhead-ping.leaseName" -}}
{{- default (printf "pingsource-%s" (include "springhead-common.fullname" .)) .Values.ping.leaderElection.leaseName -}}
{{- end -}}

{{- define "springhead-ping.leading" -}}
{{- if or .Values.ping.leaderElection.enabled .Values.ping.multiTenant }}true{{ end -}}
{{- end -}}

{{/* "true" when ping.namespaceSelector selects some namespaces only ({} and "" select all). */}}
{{- define "springhead-ping.filtersNamespaces" -}}
{{- $selector := .Values.ping.namespaceSelector -}}
{{- if kindIs "map" $selector -}}
{{- if or (not (empty $selector.matchLabels)) (not (empty $selector.matchExpressions)) }}true{{ end -}}
{{- else if and (kindIs "string" $selector) (ne (trim $selector) "") }}true{{ end -}}
{{- end -}}

{{- define "springhead-ping.env" -}}
{{- $leader := .Values.ping.leaderElection -}}
{{- if .Values.ping.multiTenant }}
{{- $selector := .Values.ping.namespaceSelector -}}
{{- if kindIs "map" $selector }}{{ $selector = toJson $selector }}{{ end -}}
{{- include "springhead-common.envFromDict" (dict
      "PING_MULTI_TENANT" "true"
      "PING_CATCHUP_WINDOW" .Values.ping.catchupWindow
      "PING_NAMESPACES" (join "," (.Values.ping.namespaces | default list))
      "PING_NAMESPACE_SELECTOR" $selector) }}
{{- else }}
{{- include "springhead-ping.settingsEnv" . }}
{{- end }}
{{- if include "springhead-ping.leading" . }}
{{- include "springhead-common.envFromDict" (dict
      "PING_LEADER_ELECTION" "true"
      "PING_LEASE_NAME" (include "springhead-ping.leaseName" .)
      "PING_LEASE_DURATION" $leader.leaseDuration
      "PING_LEASE_RENEW_DEADLINE" $leader.renewDeadline
      "PING_LEASE_RETRY_PERIOD" $leader.retryPeriod) }}
{{- end }}
{{- end -}}
