{{/*
The sink: sink.uri as K_SINK, or - with sinkBinding.enabled - a sources.knative.dev/v1
SinkBinding whose subject is the release's Deployment, so Springhead's controller (or Knative)
resolves sink.ref / sink.uri and injects K_SINK, K_CE_OVERRIDES and K_CA_CERTS itself.
*/}}

{{/* A Knative Destination from sink.ref / sink.uri / sink.caCerts (ref namespace defaults to the
release's). */}}
{{- define "springhead-common.destination" -}}
{{- $sink := .Values.sink | default dict -}}
{{- with $sink.ref }}
ref:
  apiVersion: {{ .apiVersion | quote }}
  kind: {{ .kind | quote }}
  name: {{ .name | quote }}
  namespace: {{ default $.Release.Namespace .namespace | quote }}
{{- end }}
{{- with $sink.uri }}
uri: {{ . | quote }}
{{- end }}
{{- with $sink.caCerts }}
CACerts: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* spec.ceOverrides of a SinkBinding/ContainerSource, when there are extensions. */}}
{{- define "springhead-common.ceOverrides" -}}
{{- $extensions := (.Values.ceOverrides | default dict).extensions | default dict -}}
{{- if $extensions }}
ceOverrides:
  extensions:
    {{- range $name, $value := $extensions }}
    {{ $name }}: {{ include "springhead-common.envText" $value | quote }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* The SinkBinding binding the release's Deployment (named like it), when sinkBinding.enabled. */}}
{{- define "springhead-common.sinkBinding" -}}
{{- if .Values.sinkBinding.enabled }}
{{- include "springhead-common.sinkBindingObject" . }}
{{- end }}
{{- end -}}

{{/* The SinkBinding object itself (the containersource chart renders it unconditionally). */}}
{{- define "springhead-common.sinkBindingObject" }}
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata:
  name: {{ include "springhead-common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" . | nindent 4 }}
spec:
  subject:
    apiVersion: apps/v1
    kind: Deployment
    namespace: {{ .Release.Namespace }}
    name: {{ include "springhead-common.fullname" . }}
  sink:
    {{- include "springhead-common.destination" . | trim | nindent 4 }}
  {{- with (include "springhead-common.ceOverrides" . | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}
