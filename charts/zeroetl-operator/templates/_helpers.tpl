{{/* The chart name, overridable. */}}
{{- define "zeroetl-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: <release>-<chart>, or <release> when it already holds the chart name. */}}
{{- define "zeroetl-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zeroetl-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zeroetl-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zeroetl-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zeroetl-operator.labels" -}}
helm.sh/chart: {{ include "zeroetl-operator.chart" . }}
{{ include "zeroetl-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: zeroetl-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "zeroetl-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zeroetl-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is set (it pins the exact image), else repository:tag. */}}
{{- define "zeroetl-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "zeroetl-operator.leaseName" -}}
{{- default (include "zeroetl-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The operator Deployments: one per shard, or a single one without shards. Rendered as YAML ({units: [...]})
so that the Deployment, PodDisruptionBudget and RBAC templates agree on names, labels and namespaces.
Each unit: name (the Deployment), shard ("" without shards), selector, namespaces (what it watches; empty:
all), lease (its Lease name), ownNamespaces (true when the namespaces are the shard's own, passed as a flag).
*/}}
{{- define "zeroetl-operator.units" -}}
{{- $fullname := include "zeroetl-operator.fullname" . }}
{{- $lease := include "zeroetl-operator.leaseName" . }}
{{- $units := list }}
{{- $seen := dict }}
{{- range .Values.shards }}
{{- if hasKey $seen .name }}
{{- fail (printf "shards: the name %q appears twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $units = append $units (dict
    "name" (printf "%s-%s" $fullname .name | trunc 63 | trimSuffix "-")
    "shard" .name
    "selector" (.selector | default "")
    "namespaces" (.namespaces | default $.Values.watchNamespaces | default list)
    "ownNamespaces" (not (empty .namespaces))
    "lease" (printf "%s-%s" $lease .name)) }}
{{- else }}
{{- $units = list (dict
    "name" $fullname
    "shard" ""
    "selector" ""
    "namespaces" (.Values.watchNamespaces | default list)
    "ownNamespaces" false
    "lease" $lease) }}
{{- end }}
{{- toYaml (dict "units" $units) }}
{{- end }}

{{/*
The namespaces whose Roles replace the cluster-wide grants: every unit's, when every unit watches a list.
Empty when any unit watches all namespaces (cluster scope). Rendered as YAML ({namespaces: [...]}).
*/}}
{{- define "zeroetl-operator.scopedNamespaces" -}}
{{- $namespaces := list }}
{{- $clusterWide := false }}
{{- range (include "zeroetl-operator.units" . | fromYaml).units }}
{{- if .namespaces }}
{{- $namespaces = concat $namespaces .namespaces }}
{{- else }}
{{- $clusterWide = true }}
{{- end }}
{{- end }}
{{- if $clusterWide }}
{{- $namespaces = list }}
{{- end }}
{{- toYaml (dict "namespaces" ($namespaces | uniq | sortAlpha)) }}
{{- end }}

{{/* The pod label that tells the shards' pods apart (the monitors turn it into a `shard` label). */}}
{{- define "zeroetl-operator.shardLabel" -}}
zeroetl.dev/operator-shard
{{- end }}

{{/*
What the operator does with the project's kinds, Secrets and Events, in each namespace it watches: in a
ClusterRole when it watches all namespaces, in a Role per namespace otherwise. Keep equal to
config/rbac/role.yaml (the e2e suite compares them).
*/}}
{{- define "zeroetl-operator.namespacedRules" -}}
# Watch the project's kinds; add and remove finalizers.
- apiGroups: ["zeroetl.dev"]
  resources: ["zeroetlintegrations", "redshiftconnections", "redshiftconsumers"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["zeroetl.dev"]
  resources: ["zeroetlintegrations/status", "redshiftconnections/status", "redshiftconsumers/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["zeroetl.dev"]
  resources: ["zeroetlintegrations/finalizers", "redshiftconnections/finalizers", "redshiftconsumers/finalizers"]
  verbs: ["update"]
# The Secrets a RedshiftConnection or RedshiftConsumer publishes (owned by it; a consumer's password Secret
# too), and access-key Secrets a connection reads in its own namespace.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* What must stay cluster-scoped in both scopes. */}}
{{- define "zeroetl-operator.clusterRules" -}}
# The kube-system Namespace, read to derive the default cluster name when clusterName is empty.
- apiGroups: [""]
  resources: ["namespaces"]
  resourceNames: ["kube-system"]
  verbs: ["get"]
{{- end }}

{{/*
Labels of a scrape endpoint (ServiceMonitor or PodMonitor; `.` is its values). honorLabels keeps the
`namespace` label of zeroetl_object_condition (the object's namespace) instead of renaming it; the shard
label lets the alerts tell the shards' Leases apart.
*/}}
{{- define "zeroetl-operator.scrapeLabels" -}}
honorLabels: true
relabelings:
  - sourceLabels: [__meta_kubernetes_pod_label_zeroetl_dev_operator_shard]
    targetLabel: shard
  {{- with .relabelings }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
