{{/* The name of every object (values.name). */}}
{{- define "irsa-webhook.name" -}}
{{- .Values.name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Upstream's selector, kept so that the chart can replace an upstream Deployment in place. */}}
{{- define "irsa-webhook.selectorLabels" -}}
app: {{ include "irsa-webhook.name" . }}
{{- end -}}

{{- define "irsa-webhook.labels" -}}
{{ include "irsa-webhook.selectorLabels" . }}
app.kubernetes.io/name: irsa-webhook
app.kubernetes.io/instance: {{ include "irsa-webhook.name" . }}
app.kubernetes.io/component: pod-identity-webhook
app.kubernetes.io/part-of: irsa
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "irsa-webhook.certSecret" -}}
{{ include "irsa-webhook.name" . }}-cert
{{- end -}}
