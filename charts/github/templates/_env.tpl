{{/* The GitHubSource settings (GITHUB_*), read by the source and by the hooks command (the
one-to-one ones generated in _settings.tpl; the Secrets' variables written here). */}}
{{- define "springhead-github.env" -}}
{{- $github := .Values.github -}}
{{- include "springhead-github.settingsEnv" . }}
{{- with $github.webhookSecret.existingSecret }}
{{ include "springhead-common.secretEnv" (dict "name" "GITHUB_WEBHOOK_SECRET" "secret" . "key" $github.webhookSecret.key) }}
{{- end }}
{{- end -}}

{{/* What only `python -m springhead_github hooks` reads: the public URL and the credentials. */}}
{{- define "springhead-github.hooksEnv" -}}
{{- $hooks := .Values.hooks -}}
{{- include "springhead-github.hookSettingsEnv" . }}
{{- with $hooks.token.existingSecret }}
{{ include "springhead-common.secretEnv" (dict "name" "GITHUB_TOKEN" "secret" . "key" $hooks.token.key) }}
{{- end }}
{{- with $hooks.app.privateKey.existingSecret }}
{{ include "springhead-common.secretEnv" (dict "name" "GITHUB_APP_PRIVATE_KEY" "secret" . "key" $hooks.app.privateKey.key) }}
{{- end }}
{{- end -}}

{{/* The pod running `python -m springhead_github hooks <action>`: a Job's or a CronJob's
template. Takes dict "ctx" and "action". */}}
{{- define "springhead-github.hookPod" -}}
{{- $ctx := .ctx -}}
metadata:
  labels:
    app.kubernetes.io/name: {{ include "springhead-common.name" $ctx }}
    app.kubernetes.io/instance: {{ $ctx.Release.Name }}
    app.kubernetes.io/component: {{ .action }}-hook
spec:
  {{- include "springhead-common.podSpecCommon" (dict "ctx" $ctx "automountToken" false) | nindent 2 }}
  restartPolicy: Never
  containers:
    - name: {{ .action }}-hook
      {{- /* The hooks image (with PyGithub), named as springhead-common.image names the source's. */}}
      image: {{ include "springhead-common.image" (dict "Values" (dict "image" $ctx.Values.hooks.image) "Chart" $ctx.Chart) | quote }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      command: [python, -m, springhead_github]
      args: [hooks, {{ .action }}]
      env:
        {{- range $part := list (include "springhead-common.contractEnv" (dict "ctx" $ctx "component" "github" "sink" false)) (include "springhead-github.env" $ctx) (include "springhead-github.hooksEnv" $ctx) }}
        {{- with trim $part }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- end }}
      securityContext:
        {{- include "springhead-common.containerSecurityContext" $ctx | nindent 8 }}
      resources:
        {{- toYaml $ctx.Values.hooks.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}

{{/* A hook Job running `python -m springhead_github hooks <action>`. Takes dict "ctx",
"action" (register/unregister) and "hook" (Helm hook events). */}}
{{- define "springhead-github.hookJob" -}}
{{- $ctx := .ctx -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "springhead-common.suffixedName" (dict "ctx" $ctx "suffix" (printf "-%s-hook" .action)) }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .action }}-hook
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $ctx.Values.hooks.backoffLimit }}
  activeDeadlineSeconds: {{ $ctx.Values.hooks.activeDeadlineSeconds }}
  template:
    {{- include "springhead-github.hookPod" (dict "ctx" $ctx "action" .action) | nindent 4 }}
{{- end -}}
