{{/* The PingSource settings as PING_* variables. */}}
{{- define "springhead-ping.leaseName" -}}
{{- default (printf "pingsource-%s" (include "springhead-common.fullname" .)) .Values.ping.leaderElection.leaseName -}}
{{- end -}}

{{- define "springhead-ping.env" -}}
{{- $ping := .Values.ping -}}
{{- $leader := $ping.leaderElection -}}
{{- include "springhead-common.envFromDict" (dict
      "PING_SCHEDULE" $ping.schedule
      "PING_TIMEZONE" $ping.timezone
      "PING_CONTENT_TYPE" $ping.contentType
      "PING_DATA" $ping.data
      "PING_DATA_BASE64" $ping.dataBase64
      "PING_CATCHUP_WINDOW" $ping.catchupWindow) }}
{{- if $leader.enabled }}
{{- include "springhead-common.envFromDict" (dict
      "PING_LEADER_ELECTION" "true"
      "PING_LEASE_NAME" (include "springhead-ping.leaseName" .)
      "PING_LEASE_DURATION" $leader.leaseDuration
      "PING_LEASE_RENEW_DEADLINE" $leader.renewDeadline
      "PING_LEASE_RETRY_PERIOD" $leader.retryPeriod) }}
{{- end }}
{{- end -}}
