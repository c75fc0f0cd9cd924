{{/* The controller's settings (CONTROLLER_*). The chart installs the CRDs (crds/), so the
controller never creates them. */}}
{{- define "springhead-controller.leaseName" -}}
{{- default (include "springhead-common.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "springhead-controller.env" -}}
{{- $leader := .Values.leaderElection -}}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_INSTALL_CRDS" "false"
      "CONTROLLER_LEADER_ELECTION" (ternary "true" "false" $leader.enabled)
      "SINK_BINDING_SELECTION_MODE" .Values.selectionMode
      "CONTROLLER_CLUSTER_DOMAIN" .Values.clusterDomain
      "CONTROLLER_WORKERS" .Values.workers
      "CONTROLLER_PATCH_CONCURRENCY" .Values.patchConcurrency
      "CONTROLLER_RESYNC" .Values.resync) }}
{{- if $leader.enabled }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_LEASE_NAME" (include "springhead-controller.leaseName" .)
      "CONTROLLER_LEASE_DURATION" $leader.leaseDuration
      "CONTROLLER_LEASE_RENEW_DEADLINE" $leader.renewDeadline
      "CONTROLLER_LEASE_RETRY_PERIOD" $leader.retryPeriod) }}
{{- end }}
{{- end -}}
