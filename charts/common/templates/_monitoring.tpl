{{/*
A release's Grafana dashboard and alerting rules, each off by default:
  - metrics.dashboard.enabled: a ConfigMap holding the dashboard, labelled for Grafana's
    dashboard sidecar (metrics.dashboard.labels, default grafana_dashboard: "1"); its variables
    start at the release's namespace and Service;
  - metrics.rules.enabled: a monitoring.coreos.com/v1 PrometheusRule whose alerts watch the
    release's series (namespace and job: the Service a ServiceMonitor scrapes through).
The dashboard and the rules are generated (_monitoring_data.tpl, scripts/monitoring.py). Takes
dict "ctx" and "families": the rule families the chart's processes export (ready, delivery,
webhook, kafka, watch, ping).
*/}}

{{/* Generated text with the release's namespace, job (its Service), dashboard uid and title. */}}
{{- define "springhead-common.forRelease" -}}
{{- $ctx := .ctx -}}
{{- $name := include "springhead-common.fullname" $ctx -}}
{{- $uid := printf "%s/%s" $ctx.Release.Namespace $name | sha256sum | trunc 16 -}}
{{- .text
    | replace "__NAMESPACE__" $ctx.Release.Namespace
    | replace "__JOB__" $name
    | replace "__UID__" (printf "springhead-%s" $uid)
    | replace "__TITLE__" (printf "Springhead %s: %s/%s" $ctx.Chart.Name $ctx.Release.Namespace $name) -}}
{{- end -}}

{{- define "springhead-common.monitoring" -}}
{{- $ctx := .ctx -}}
{{- $metrics := $ctx.Values.metrics | default dict -}}
{{- $dashboard := $metrics.dashboard | default dict -}}
{{- $rules := $metrics.rules | default dict -}}
{{- $name := include "springhead-common.fullname" $ctx -}}
{{- if $dashboard.enabled }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "springhead-common.suffixedName" (dict "ctx" $ctx "suffix" "-dashboard") }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" $ctx | nindent 4 }}
    {{- with $dashboard.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $dashboard.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
data:
  {{ printf "springhead-%s.json" $name }}: |-
    {{- include "springhead-common.forRelease" (dict "ctx" $ctx "text" (include "springhead-common.dashboardJson" $ctx)) | nindent 4 }}
{{- end }}
{{- if $rules.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" $ctx | nindent 4 }}
    {{- with $rules.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    - name: {{ printf "springhead.%s.%s" $ctx.Release.Namespace $name }}
      rules:
        {{- range .families }}
        {{- include "springhead-common.forRelease" (dict "ctx" $ctx "text" (include (printf "springhead-common.rules.%s" .) $ctx)) | nindent 8 }}
        {{- end }}
{{- end }}
{{- end -}}
