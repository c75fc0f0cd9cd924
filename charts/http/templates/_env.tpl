{{/* The HTTP source's settings: WEBHOOK_* and HTTP_*. */}}
{{- define "springhead-http.env" -}}
{{- $http := .Values.http -}}
{{- $headers := list -}}
{{- range $header, $extension := $http.headerExtensions }}
{{- $headers = append $headers (printf "%s=%s" $header $extension) }}
{{- end }}
{{- include "springhead-common.webhookEnv" . }}
{{- include "springhead-common.envFromDict" (dict
      "HTTP_EVENT_TYPE" $http.eventType
      "HTTP_EVENT_SOURCE" $http.eventSource
      "HTTP_IDEMPOTENCY_HEADER" $http.idempotencyHeader
      "HTTP_HEADER_EXTENSIONS" (join "," $headers)
      "HTTP_HMAC_HEADER" $http.hmac.header) }}
{{- with $http.hmac.key }}
{{ include "springhead-common.secretEnv" (dict "name" "HTTP_HMAC_SECRET" "secret" $http.hmac.existingSecret "key" .) }}
{{- end }}
{{- end -}}
