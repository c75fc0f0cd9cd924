{{/* The pod template of the source: the user's image, command, args and env, plus the
delivery spec and NAMESPACE/NAME for Springhead-built sources. K_SINK, K_CE_OVERRIDES and
K_CA_CERTS are injected by the SinkBinding (or the ContainerSource's controller). */}}
{{- define "springhead-containersource.podArgs" -}}
{{- $env := "" -}}
{{- with .Values.env }}{{ $env = toYaml . }}{{ end -}}
{{- $sourceEnv := printf "%s\n%s" (include "springhead-common.deliveryEnv" .) $env -}}
{{- dict
      "ctx" .
      "component" .Values.containerName
      "command" .Values.command
      "args" .Values.args
      "sink" false
      "probes" .Values.probes.enabled
      "sourceEnv" $sourceEnv | toYaml -}}
{{- end -}}
