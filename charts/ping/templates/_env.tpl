{{/* The PingSource settings as PING_* variables: the one-to-one ones are generated
(_settings.tpl); leader election is written here (the Lease variables only when enabled). */}}
{{- define "springhead-ping.leaseName" -}}
{{- default (printf "pingsource-%s" (include "springhead-common.fullname" .)) .Values.ping.leaderElection.leaseName -}}
{{- end -}}

{{- define "springhead-ping.leading" -}}
{{- if or .Values.ping.leaderElection.enabled .Values.ping.multiTenant }}true{{ end -}}
{{- end -}}

{{- define "springhead-ping.env" -}}
{{- $leader := .Values.ping.leaderElection -}}
{{- if .Values.ping.multiTenant }}
{{- include "springhead-common.envFromDict" (dict
      "PING_MULTI_TENANT" "true"
      "PING_CATCHUP_WINDOW" .Values.ping.catchupWindow) }}
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
