{{/* The controller's settings (CONTROLLER_*): the one-to-one ones generated in _settings.tpl,
the Lease's only with leader election; Kafka's SASL credentials and TLS material from existing
Secrets (the library chart's kafkaSecretEnv). The chart installs the CRDs (crds/), so the controller
never creates them. */}}
{{- define "springhead-controller.leaseName" -}}
{{- default (include "springhead-common.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- /* A source's image beside the controller's: same registry path and tag. */}}
{{- define "springhead-controller.sourceImage" -}}
{{- $ctx := index . 0 -}}
{{- $repository := printf "%s/%s" (dir $ctx.Values.image.repository) (index . 1) -}}
{{- printf "%s:%s" $repository (default $ctx.Chart.AppVersion $ctx.Values.image.tag | toString) -}}
{{- end -}}

{{- define "springhead-controller.env" -}}
{{- $leader := .Values.leaderElection -}}
{{- include "springhead-common.envFromDict" (dict "CONTROLLER_INSTALL_CRDS" "false") }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_APISERVER_IMAGE" (.Values.apiServerSources.image | default (include "springhead-controller.sourceImage" (list . "springhead-apiserver")))
      "CONTROLLER_KAFKA_IMAGE" (.Values.kafkaSources.image | default (include "springhead-controller.sourceImage" (list . "springhead-kafka")))) }}
{{- include "springhead-controller.settingsEnv" . }}
{{- include "springhead-common.kafkaSecretEnv" .Values.kafka }}
{{- if .Values.github.enabled }}
{{- if not (hasSuffix "-github" .Values.image.repository) }}
{{- fail "github.enabled needs the controller image with the github role: set image.repository to ghcr.io/springhead/springhead-controller-github (or your mirror of it)" }}
{{- end }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_GITHUB_IMAGE" (default (printf "ghcr.io/springhead/springhead-github:%s" .Chart.AppVersion) .Values.github.receiverImage)) }}
{{- end }}
{{- if $leader.enabled }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_LEASE_NAME" (include "springhead-controller.leaseName" .)
      "CONTROLLER_LEASE_DURATION" $leader.leaseDuration
      "CONTROLLER_LEASE_RENEW_DEADLINE" $leader.renewDeadline
      "CONTROLLER_LEASE_RETRY_PERIOD" $leader.retryPeriod) }}
{{- end }}
{{- end -}}
