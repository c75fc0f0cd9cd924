{{/* Each role's ClusterRole rules: exactly the calls its reconcilers make
(controller/src/springhead_controller). No CRD rights: the chart installs the CRDs. No events:
the controller posts none. Every role also gets rbac.extraSinkRules, the aggregated
Addressable-resolver role (rbac.aggregateAddressables) and, with leader election, its own Lease. */}}

{{/* core: SinkBinding, ContainerSource, PingSource.
  - informers (list, watch): namespaces, sinkbindings, containersources, pingsources, and every
    subject kind;
  - SinkBinding: patch (its finalizer), update status; the ContainerSource reconciler creates,
    updates and deletes the SinkBinding and Deployment it owns;
  - subjects: get (re-read after a conflict) and patch (env injection);
  - PingSource: update status (the multi-tenant ping fires it; nothing is created for it);
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
  resources: [containersources, pingsources]
  verbs: [list, watch]
- apiGroups: [sources.knative.dev]
  resources:
    [sinkbindings/status, containersources/status, containersources/finalizers, pingsources/status]
  verbs: [update]
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
{{- end -}}

{{/* broker: Broker and Trigger.
  - Brokers and Triggers: list, watch, patch (their finalizer), update status;
  - subscribers and dead-letter sinks: Services (list, watch), other Addressables through the
    aggregated role;
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
{{- end -}}
