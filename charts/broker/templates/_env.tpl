{{/* The broker data plane's settings: the one-to-one ones (BROKER_*, KAFKA_*) generated in
_settings.tpl; Kafka's SASL credentials and TLS material from existing Secrets (the library
chart's kafkaSecretEnv); the role, the backend and the contract file fixed by the chart. Takes dict "ctx"
and "role" (ingress or dispatcher). */}}
{{- define "springhead-broker.env" -}}
- name: BROKER_ROLE
  value: {{ .role | quote }}
- name: BROKER_BACKEND
  value: "kafka"
- name: BROKER_CONTRACT_FILE
  value: "/etc/springhead/contract/contract.json"
{{ include "springhead-broker.settingsEnv" .ctx }}
{{ include "springhead-broker.kafkaSettingsEnv" .ctx }}
{{- include "springhead-common.kafkaSecretEnv" .ctx.Values.kafka }}
{{- end -}}

{{/* The contract ConfigMap's name: contract.configMapName or <release>-contract. */}}
{{- define "springhead-broker.contractName" -}}
{{- default (include "springhead-common.suffixedName" (dict "ctx" . "suffix" "-contract")) .Values.contract.configMapName -}}
{{- end -}}
