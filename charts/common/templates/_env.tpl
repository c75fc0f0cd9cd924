{{/*
Environment variables: the adapter contract (CONTRACT.md), the delivery spec and helpers the
source charts use for their own settings.
*/}}

{{/* A value as the text of an environment variable: whole numbers without an exponent (values
files hold numbers as floats), lists and maps as JSON, everything else as text. */}}
{{- define "springhead-common.envText" -}}
{{- $value := . -}}
{{- if kindIs "float64" $value -}}
{{- if eq $value (float64 (int64 $value)) -}}{{ int64 $value }}{{- else -}}{{ $value }}{{- end -}}
{{- else if or (kindIs "map" $value) (kindIs "slice" $value) -}}
{{- toJson $value -}}
{{- else -}}
{{- $value -}}
{{- end -}}
{{- end -}}

{{/* EnvVar entries from a dict of NAME -> value, in name order; null and "" are left out
(the source then uses its default). */}}
{{- define "springhead-common.envFromDict" -}}
{{- range $name, $value := . }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value ""))) }}
- name: {{ $name }}
  value: {{ include "springhead-common.envText" $value | toJson }}
{{- end }}
{{- end }}
{{- end -}}

{{/* An EnvVar read from an existing Secret: dict "name" "secret" "key" ["optional" bool]. */}}
{{- define "springhead-common.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* Kafka's SASL credentials and TLS material (KAFKA_SASL_USER, KAFKA_SASL_PASSWORD,
KAFKA_TLS_CA_CERT, KAFKA_TLS_CERT, KAFKA_TLS_KEY), each from a key of an existing Secret
(secretKeyRef; never a value in the chart). Takes the values' kafka section, which has
sasl {mechanism, existingSecret, userKey, passwordKey} and tls {existingSecret, caCertKey, certKey,
keyKey}; KAFKA_SASL_MECHANISM and KAFKA_TLS_ENABLE are one-to-one settings (_settings.tpl). */}}
{{- define "springhead-common.kafkaSecretEnv" -}}
{{- $sasl := .sasl | default dict -}}
{{- with $sasl.mechanism }}
{{ include "springhead-common.secretEnv" (dict "name" "KAFKA_SASL_USER" "secret" $sasl.existingSecret "key" $sasl.userKey) }}
{{ include "springhead-common.secretEnv" (dict "name" "KAFKA_SASL_PASSWORD" "secret" $sasl.existingSecret "key" $sasl.passwordKey) }}
{{- end }}
{{- $tls := .tls | default dict }}
{{- range $variable, $key := dict "KAFKA_TLS_CA_CERT" $tls.caCertKey "KAFKA_TLS_CERT" $tls.certKey "KAFKA_TLS_KEY" $tls.keyKey }}
{{- with $key }}
{{ include "springhead-common.secretEnv" (dict "name" $variable "secret" $tls.existingSecret "key" .) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* K_CE_OVERRIDES: {"extensions": {...}} as JSON, or "" when there are none (Knative injects
the variable even when empty). */}}
{{- define "springhead-common.ceOverridesJson" -}}
{{- $extensions := (.Values.ceOverrides | default dict).extensions | default dict -}}
{{- if $extensions -}}
{{- dict "extensions" $extensions | toJson -}}
{{- end -}}
{{- end -}}

{{/* The adapter contract: NAMESPACE, NAME, K_COMPONENT, the runtime port, and - unless a
SinkBinding injects them - K_SINK, K_CE_OVERRIDES and K_CA_CERTS. Takes dict "ctx" "component"
"sink" (false: the workload sends no events, e.g. the controller). */}}
{{- define "springhead-common.contractEnv" -}}
{{- $ctx := .ctx -}}
- name: NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NAME
  value: {{ include "springhead-common.fullname" $ctx | quote }}
- name: K_COMPONENT
  value: {{ printf "springhead-%s" .component | quote }}
- name: SPRINGHEAD_PORT
  value: "8080"
{{- if and .sink (not $ctx.Values.sinkBinding.enabled) }}
- name: K_SINK
  value: {{ $ctx.Values.sink.uri | quote }}
- name: K_CE_OVERRIDES
  value: {{ include "springhead-common.ceOverridesJson" $ctx | quote }}
{{- with $ctx.Values.sink.caCerts }}
- name: K_CA_CERTS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The delivery spec (SPRINGHEAD_DELIVERY_*, "springhead-common.deliveryEnv") and the runtime
settings every process shares ("springhead-common.runtimeEnv") are generated: _settings.tpl. */}}

{{/* The user's own variables: secretEnv (from existing Secrets) and extraEnv (EnvVar list). */}}
{{- define "springhead-common.userEnv" -}}
{{- range .Values.secretEnv }}
{{ include "springhead-common.secretEnv" (dict "name" .name "secret" .secretName "key" .key "optional" .optional) }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Webhook receiving (http and github sources): WEBHOOK_* and the credentials from
webhook.auth.existingSecret. */}}
{{- define "springhead-common.webhookEnv" -}}
{{- include "springhead-common.webhookSettingsEnv" . }}
{{- $auth := .Values.webhook.auth }}
{{- with $auth.bearerTokenKey }}
{{ include "springhead-common.secretEnv" (dict "name" "WEBHOOK_BEARER_TOKEN" "secret" $auth.existingSecret "key" .) }}
{{- end }}
{{- with $auth.basicUserKey }}
{{ include "springhead-common.secretEnv" (dict "name" "WEBHOOK_BASIC_USER" "secret" $auth.existingSecret "key" .) }}
{{- end }}
{{- with $auth.basicPasswordKey }}
{{ include "springhead-common.secretEnv" (dict "name" "WEBHOOK_BASIC_PASSWORD" "secret" $auth.existingSecret "key" .) }}
{{- end }}
{{- end -}}
