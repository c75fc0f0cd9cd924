{{/*
The Deployment every Springhead chart runs: one container named after the component, the
runtime's port 8080 named "http" (health, metrics and - for webhook sources - the webhook),
liveness /healthz, readiness /readyz, a locked-down security context, an emptyDir at /tmp.
*/}}

{{/* The container's security context (values: securityContext). */}}
{{- define "springhead-common.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{/* The pod's scheduling, security and service-account fields. */}}
{{- define "springhead-common.podSpecCommon" -}}
{{- $ctx := .ctx -}}
serviceAccountName: {{ include "springhead-common.serviceAccountName" $ctx }}
automountServiceAccountToken: {{ .automountToken | default false }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with $ctx.Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The pod template (labels, pod spec, the one container). Takes a dict:
  ctx            the chart's root context ($)
  component      the container's name; K_COMPONENT is springhead-<component>
  command        the container's command (list), e.g. (list "python" "-m" "springhead_ping")
  args           the container's args (list), optional
  sourceEnv      the source's own EnvVar entries (YAML text), placed after the shared ones
  sink           true when the process sends events: K_SINK etc. (unless a SinkBinding injects
                 them) and the delivery spec
  automountToken mount the ServiceAccount token (processes that talk to the Kubernetes API)
  probes         false: no liveness/readiness probes (default: /healthz and /readyz)
  volumes        extra pod volumes (YAML text), optional
  volumeMounts   extra container volume mounts (YAML text), optional
*/}}
{{- define "springhead-common.podTemplate" -}}
{{- $ctx := .ctx -}}
{{- $values := $ctx.Values -}}
{{- $envParts := list
      (include "springhead-common.contractEnv" (dict "ctx" $ctx "component" .component "sink" .sink))
      (include "springhead-common.runtimeEnv" $ctx)
      (ternary (include "springhead-common.deliveryEnv" $ctx) "" (.sink | default false))
      (.sourceEnv | default "")
      (include "springhead-common.userEnv" $ctx) -}}
metadata:
  labels:
    {{- include "springhead-common.selectorLabels" $ctx | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "springhead-common.podSpecCommon" . | nindent 2 }}
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  containers:
    - name: {{ .component }}
      image: {{ include "springhead-common.image" $ctx | quote }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      {{- with .command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      env:
        {{- range $part := $envParts }}
        {{- with trim $part }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- end }}
      {{- if ne .probes false }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      {{- end }}
      securityContext:
        {{- include "springhead-common.containerSecurityContext" $ctx | nindent 8 }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with .volumeMounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The Deployment (named like the release) around the pod template; same dict. */}}
{{- define "springhead-common.deployment" -}}
{{- $ctx := .ctx -}}
{{- $values := $ctx.Values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "springhead-common.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "springhead-common.labels" $ctx | nindent 4 }}
  {{- with $values.deploymentAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  replicas: {{ $values.replicaCount }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "springhead-common.selectorLabels" $ctx | nindent 6 }}
  template:
    {{- include "springhead-common.podTemplate" . | nindent 4 }}
{{- end -}}
