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

{{- define "zeroetl-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{- define "zeroetl-operator.leaseName" -}}
{{- default (include "zeroetl-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}
