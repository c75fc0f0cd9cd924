{{/* Each role's ClusterRole rules: exactly the calls its reconcilers make
(controller/src/springhead_controller). No CRD rights: the chart installs the CRDs. No events:
the controller posts none. Every role also gets rbac.extraSinkRules, the aggregated
Addressable-resolver role (rbac.aggregateAddressables) and, with leader election, its own Lease. */}}

{{/* core: SinkBinding, ContainerSource, PingSource, ApiServerSource, KafkaSource.
  - informers (list, watch): namespaces, sinkbindings, containersources, pingsources, and every
    subject kind;
  - SinkBinding: patch (its finalizer), update status; the ContainerSource reconciler creates,
    updates and deletes the SinkBinding and Deployment it owns;
  - subjects: get (re-read after a conflict) and patch (env injection);
  - PingSource: update status (the multi-tenant ping fires it; nothing is created for it);
  - ApiServerSource: patch (its finalizer), update status; per object a Deployment, and unless
    it names its own account a ServiceAccount, Role/RoleBinding or ClusterRole/ClusterRoleBinding
    (get, create, update, delete), and SubjectAccessReviews (create) to check a named account.
    Escalation: Kubernetes lets the controller write only roles whose rules it holds, and bind
    only such roles. It holds apiServerSources.grantableRules for that (read-only, no Secrets),
    and deliberately has neither `escalate` nor `bind`: with either it could grant anything;
  - KafkaSource: update status; a Deployment per object (it reads no Secret: credentials reach
    the pods as secretKeyRef variables);
  - ContainerSource: update status, update finalizers (its children's ownerReferences set
    blockOwnerDeletion, which OwnerReferencesPermissionEnforcement checks against it);
  - sinks: Services and Brokers (list, watch), other Addressables through the aggregated role. */}}
{{- define "springhead-controller.rules.core" -}}
- apiGroups: [""]
  resources: [namespaces, services]
  verbs: [list, watch]
- apiGroups: [sources.knative.dev]
  resources: [sinkbindings]
  verbs: [list, watch, create, update, patch, delete]
- apiGroups: [sources.knative.dev]
  resources: [containersources, pingsources, kafkasources]
  verbs: [list, watch]
- apiGroups: [sources.knative.dev]
  resources: [apiserversources]
  verbs: [list, watch, patch]
- apiGroups: [sources.knative.dev]
  resources:
    [sinkbindings/status, containersources/status, containersources/finalizers, pingsources/status,
     apiserversources/status, apiserversources/finalizers, kafkasources/status,
     kafkasources/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings, clusterroles, clusterrolebindings]
  verbs: [get, create, update, delete]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, patch, create, update, delete]
- apiGroups: [apps]
  resources: [statefulsets, daemonsets, replicasets]
  verbs: [get, list, watch, patch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch, patch]
- apiGroups: [eventing.knative.dev]
  resources: [brokers]
  verbs: [list, watch]
{{- with .Values.apiServerSources.grantableRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* broker: Broker and Trigger.
  - Brokers and Triggers: list, watch, patch (their finalizer), update status;
  - subscribers and dead-letter sinks: Services (list, watch), other Addressables through the
    aggregated role;
  - a Broker's spec.config (Knative's kafka-broker-config, in any namespace): get ConfigMaps;
  - the contract ConfigMap: get and update, by a Role in its namespace (rbac.yaml). */}}
{{- define "springhead-controller.rules.broker" -}}
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch]
- apiGroups: [eventing.knative.dev]
  resources: [brokers, triggers]
  verbs: [list, watch, patch]
- apiGroups: [eventing.knative.dev]
  resources: [brokers/status, triggers/status]
  verbs: [update]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
{{- end -}}

{{/* github: GitHubSource.
  - GitHubSources: list, watch, patch (their finalizer), update status and finalizers;
  - Secrets: get the referenced ones (the access token), list and watch for changes;
  - the receivers: Deployments and Services (server-side apply: get, create, patch; delete;
    list and watch to notice one deleted by hand);
  - sinks: Services (list, watch), other Addressables through the aggregated role. */}}
{{- define "springhead-controller.rules.github" -}}
- apiGroups: [sources.knative.dev]
  resources: [githubsources]
  verbs: [list, watch, patch]
- apiGroups: [sources.knative.dev]
  resources: [githubsources/status, githubsources/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
{{- end -}}
