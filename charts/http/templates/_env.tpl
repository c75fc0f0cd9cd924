{{/* The HTTP source's settings: WEBHOOK_* and HTTP_* (the one-to-one ones generated in
_settings.tpl; the header map and the HMAC secret written here). */}}
{{- define "springhead-http.env" -}}
{{- $http := .Values.http -}}
{{- $headers := list -}}
{{- range $header, $extension := $http.headerExtensions }}
{{- $headers = append $headers (printf "%s=%s" $header $extension) }}
{{- end }}
{{- include "springhead-common.webhookEnv" . }}
{{- include "springhead-http.settingsEnv" . }}
{{- include "springhead-common.envFromDict" (dict "HTTP_HEADER_EXTENSIONS" (join "," $headers)) }}
{{- with $http.hmac.key }}
{{ include "springhead-common.secretEnv" (dict "name" "HTTP_HMAC_SECRET" "secret" $http.hmac.existingSecret "key" .) }}
{{- end }}
{{- end -}}
