{{/* The KafkaSource settings (KAFKA_*): the one-to-one ones generated in _settings.tpl; SASL
credentials and TLS material from existing Secrets (the library chart's kafkaSecretEnv). */}}
{{- define "springhead-kafka.env" -}}
{{- include "springhead-kafka.settingsEnv" . }}
{{- include "springhead-common.kafkaSecretEnv" .Values.kafka }}
{{- end -}}
