{{/* The KafkaSource settings (KAFKA_*): the one-to-one ones generated in _settings.tpl; SASL
credentials and TLS material from existing Secrets written here. */}}
{{- define "springhead-kafka.env" -}}
{{- $kafka := .Values.kafka -}}
{{- include "springhead-kafka.settingsEnv" . }}
{{- with $kafka.sasl.mechanism }}
{{ include "springhead-common.secretEnv" (dict "name" "KAFKA_SASL_USER" "secret" $kafka.sasl.existingSecret "key" $kafka.sasl.userKey) }}
{{ include "springhead-common.secretEnv" (dict "name" "KAFKA_SASL_PASSWORD" "secret" $kafka.sasl.existingSecret "key" $kafka.sasl.passwordKey) }}
{{- end }}
{{- $tls := $kafka.tls }}
{{- range $variable, $key := dict "KAFKA_TLS_CA_CERT" $tls.caCertKey "KAFKA_TLS_CERT" $tls.certKey "KAFKA_TLS_KEY" $tls.keyKey }}
{{- with $key }}
{{ include "springhead-common.secretEnv" (dict "name" $variable "secret" $tls.existingSecret "key" .) }}
{{- end }}
{{- end }}
{{- end -}}
