{{/* The KafkaSource settings (KAFKA_*); SASL credentials and TLS material from existing Secrets. */}}
{{- define "springhead-kafka.env" -}}
{{- $kafka := .Values.kafka -}}
{{- include "springhead-common.envFromDict" (dict
      "KAFKA_BOOTSTRAP_SERVERS" (join "," $kafka.bootstrapServers)
      "KAFKA_TOPICS" (join "," $kafka.topics)
      "KAFKA_TOPIC_PATTERN" $kafka.topicPattern
      "KAFKA_CONSUMER_GROUP" $kafka.consumerGroup
      "KAFKA_INITIAL_OFFSET" $kafka.initialOffset
      "KAFKA_ORDERING" $kafka.ordering
      "KAFKA_KEY_TYPE" $kafka.keyType
      "KAFKA_ON_EXHAUSTED" $kafka.onExhausted
      "KAFKA_MAX_IN_FLIGHT" $kafka.maxInFlight
      "KAFKA_MAX_UNCOMMITTED" $kafka.maxUncommitted
      "KAFKA_PREFETCH" $kafka.prefetch
      "KAFKA_MAX_PARTITION_FETCH_BYTES" $kafka.maxPartitionFetchBytes
      "KAFKA_FETCH_MAX_BYTES" $kafka.fetchMaxBytes
      "KAFKA_COMMIT_INTERVAL" $kafka.commitInterval
      "KAFKA_REVOKE_TIMEOUT" $kafka.revokeTimeout
      "KAFKA_SASL_MECHANISM" $kafka.sasl.mechanism
      "KAFKA_TLS_ENABLE" (ternary "true" "" $kafka.tls.enabled)) }}
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
