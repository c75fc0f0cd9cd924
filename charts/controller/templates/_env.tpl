{{/* The controller's settings (CONTROLLER_*): the one-to-one ones generated in _settings.tpl,
the Lease's only with leader election. The chart installs the CRDs (crds/), so the controller
never creates them. Each role is its own Deployment (deployment.yaml): the core's settings go to
every role, the sources' images (CONTROLLER_APISERVER_IMAGE, CONTROLLER_KAFKA_IMAGE) to the core's
only, the broker's (BROKER_*, KAFKA_*: Kafka's SASL credentials and TLS material from existing
Secrets) to the broker role's only, the GitHub receiver's image to the github role's only. */}}
{{- define "springhead-controller.leaseName" -}}
{{- default (include "springhead-common.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- /* A source's image beside the controller's: same registry path and tag. */}}
{{- define "springhead-controller.sourceImage" -}}
{{- $ctx := index . 0 -}}
{{- $repository := printf "%s/%s" (dir $ctx.Values.image.repository) (index . 1) -}}
{{- printf "%s:%s" $repository (default $ctx.Chart.AppVersion $ctx.Values.image.tag | toString) -}}
{{- end -}}

{{/* Whether a role runs ("true" or ""). The broker role: roles.broker.enabled, or, when that is
null, broker.contractConfigMap (the one value that turned Brokers on before there were roles). */}}
{{- define "springhead-controller.roleEnabled" -}}
{{- $role := index .ctx.Values.roles .role -}}
{{- if kindIs "invalid" $role.enabled -}}
{{- if and (eq .role "broker") .ctx.Values.broker.contractConfigMap }}true{{ end -}}
{{- else if $role.enabled }}true{{ end -}}
{{- end -}}

{{/* The values a role's objects are rendered with (YAML; read back with fromYaml): the release's,
with the role's own names (<fullname>-<role>, app.kubernetes.io/name <name>-<role>) and image.
The core keeps the release's own names, so its Deployment's selector never changes. */}}
{{- define "springhead-controller.roleValues" -}}
{{- $ctx := .ctx -}}
{{- $values := deepCopy $ctx.Values -}}
{{- if ne .role "core" -}}
{{- $role := index $ctx.Values.roles .role -}}
{{- $suffix := printf "-%s" .role -}}
{{- $full := include "springhead-common.suffixedName" (dict "ctx" $ctx "suffix" $suffix) -}}
{{- $name := printf "%s%s" (include "springhead-common.name" $ctx | trunc (int (sub 63 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- $image := dict "repository" $role.image.repository "tag" (default $ctx.Values.image.tag $role.image.tag) "digest" $role.image.digest "pullPolicy" $ctx.Values.image.pullPolicy -}}
{{- $account := deepCopy $ctx.Values.serviceAccount -}}
{{- if and $account.create $account.name -}}
{{- $_ := set $account "name" (printf "%s%s" $account.name $suffix) -}}
{{- end -}}
{{- $_ := set $values "fullnameOverride" $full -}}
{{- $_ := set $values "nameOverride" $name -}}
{{- $_ := set $values "image" $image -}}
{{- $_ := set $values "serviceAccount" $account -}}
{{- end -}}
{{- toYaml $values -}}
{{- end -}}

{{/* The roles the chart can run, in order (space-separated): each is a Deployment when enabled. */}}
{{- define "springhead-controller.roleNames" -}}
core broker github
{{- end -}}

{{/* The variables of a role's Deployment. Takes dict "ctx" (the chart's root context) and "role". */}}
{{- define "springhead-controller.env" -}}
{{- $ctx := .ctx -}}
{{- $leader := $ctx.Values.leaderElection -}}
{{- include "springhead-common.envFromDict" (dict "CONTROLLER_INSTALL_CRDS" "false" "CONTROLLER_ROLES" .role) }}
{{- include "springhead-controller.settingsEnv" $ctx }}
{{- if eq .role "core" }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_APISERVER_IMAGE" ($ctx.Values.apiServerSources.image | default (include "springhead-controller.sourceImage" (list $ctx "springhead-apiserver")))
      "CONTROLLER_KAFKA_IMAGE" ($ctx.Values.kafkaSources.image | default (include "springhead-controller.sourceImage" (list $ctx "springhead-kafka")))) }}
{{- end }}
{{- if eq .role "broker" }}
{{- include "springhead-controller.brokerSettingsEnv" $ctx }}
{{- include "springhead-controller.kafkaSettingsEnv" $ctx }}
{{- include "springhead-common.kafkaSecretEnv" $ctx.Values.kafka }}
{{- end }}
{{- if eq .role "github" }}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_GITHUB_IMAGE" ($ctx.Values.github.receiverImage | default (include "springhead-controller.sourceImage" (list $ctx "springhead-github")))) }}
{{- end }}
{{- if $leader.enabled }}
{{- /* The core's Lease name: a role's process leads on <name>-<role>. */}}
{{- include "springhead-common.envFromDict" (dict
      "CONTROLLER_LEASE_NAME" (include "springhead-controller.leaseName" $ctx)
      "CONTROLLER_LEASE_DURATION" $leader.leaseDuration
      "CONTROLLER_LEASE_RENEW_DEADLINE" $leader.renewDeadline
      "CONTROLLER_LEASE_RETRY_PERIOD" $leader.retryPeriod) }}
{{- end }}
{{- end -}}

{{/* The Lease a role's replicas share (its Role names exactly it). */}}
{{- define "springhead-controller.roleLeaseName" -}}
{{- $base := include "springhead-controller.leaseName" .ctx -}}
{{- if eq .role "core" }}{{ $base }}{{ else }}{{ printf "%s-%s" $base .role }}{{ end -}}
{{- end -}}
