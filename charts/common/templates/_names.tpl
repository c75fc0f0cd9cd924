{{/*
Names and labels shared by every Springhead chart.

Every object a release creates is named after the release ("springhead-common.fullname"): one
release is one source object, as a Knative source object is one name. fullnameOverride replaces it.
*/}}

{{/* The chart's name for labels: nameOverride or the chart's name. */}}
{{- define "springhead-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of every object of the release: fullnameOverride or the release name. */}}
{{- define "springhead-common.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The fullname with a suffix, kept within 63 characters (e.g. "-register-hook"). */}}
{{- define "springhead-common.suffixedName" -}}
{{- $name := include "springhead-common.fullname" .ctx -}}
{{- printf "%s%s" ($name | trunc (int (sub 63 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "springhead-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels selecting the release's pods (never change after install). */}}
{{- define "springhead-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "springhead-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "springhead-common.labels" -}}
helm.sh/chart: {{ include "springhead-common.chart" . }}
{{ include "springhead-common.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: springhead
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount the pods run as. */}}
{{- define "springhead-common.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "springhead-common.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository:tag (tag defaults to the chart's appVersion), or
repository@digest when image.digest is set. */}}
{{- define "springhead-common.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}
