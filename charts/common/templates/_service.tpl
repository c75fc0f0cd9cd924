{{/*
The Service in front of the runtime port (webhook sources always; any chart when its metrics are
scraped through a ServiceMonitor), the ServiceMonitor, and the ServiceAccount.
*/}}

{{/* The Service. Takes dict "ctx" and "webhook" (true: the chart receives webhooks on it). */}}
{{- define "springhead-common.service" -}}
{{- $ctx := .ctx -}}
{{- $values := $ctx.Values -}}
{{- $service := $values.service | default dict -}}
{{- if or .webhook $values.metrics.serviceMonitor.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "springhead-common.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" $ctx | nindent 4 }}
  {{- with $service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $service.type | default "ClusterIP" }}
  selector:
    {{- include "springhead-common.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ $service.port | default 8080 }}
      targetPort: http
      protocol: TCP
      {{- if and (eq ($service.type | default "ClusterIP") "NodePort") $service.nodePort }}
      nodePort: {{ $service.nodePort }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* A monitoring.coreos.com/v1 ServiceMonitor scraping /metrics on the "http" port, when
metrics.serviceMonitor.enabled. */}}
{{- define "springhead-common.serviceMonitor" -}}
{{- $monitor := .Values.metrics.serviceMonitor -}}
{{- if $monitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "springhead-common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" . | nindent 4 }}
    {{- with $monitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "springhead-common.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: /metrics
      {{- with $monitor.interval }}
      interval: {{ . }}
      {{- end }}
      {{- with $monitor.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount, when serviceAccount.create. */}}
{{- define "springhead-common.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "springhead-common.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}
{{- end -}}

{{/* Binds a Role or ClusterRole to the release's ServiceAccount. Takes dict "ctx", "kind"
(RoleBinding/ClusterRoleBinding), "name", "namespace" (RoleBinding only), "roleKind". */}}
{{- define "springhead-common.roleBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- if .namespace }}
  namespace: {{ .namespace }}
  {{- end }}
  labels:
    {{- include "springhead-common.labels" .ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .roleKind }}
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "springhead-common.serviceAccountName" .ctx }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end -}}
