{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "vaultsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "vaultsync.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vaultsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vaultsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vaultsync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vaultsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: vaultsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "vaultsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vaultsync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Namespace of the Lease and the hash-key Secret. */}}
{{- define "vaultsync.controllerNamespace" -}}
{{- default .Release.Namespace .Values.config.controllerNamespace -}}
{{- end -}}

{{- define "vaultsync.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The port of a host:port value. */}}
{{- define "vaultsync.port" -}}
{{- regexFind "[0-9]+$" . -}}
{{- end -}}

{{- define "vaultsync.vaultCAConfigMap" -}}
{{- printf "%s-vault-ca" (include "vaultsync.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where the chart mounts what it passes as file flags. */}}
{{- define "vaultsync.vaultCAFile" -}}/etc/vaultsync/vault-ca/{{ .Values.vaultCA.key }}{{- end -}}
{{- define "vaultsync.webhookKeyFile" -}}/etc/vaultsync/webhook/key{{- end -}}
{{- define "vaultsync.webhookNamespaceKeysDir" -}}/etc/vaultsync/webhook-namespaces{{- end -}}

{{/*
The effective `config`: the values, plus the file flags of what the chart mounts (an explicit
config value wins). Rendered as YAML, read back with fromYaml.
*/}}
{{- define "vaultsync.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- if and (or .Values.vaultCA.bundle .Values.vaultCA.configMap .Values.vaultCA.secret) (not $c.vaultCaFile) -}}
{{- $_ := set $c "vaultCaFile" (include "vaultsync.vaultCAFile" .) -}}
{{- end -}}
{{- if and .Values.webhook.existingSecret (not $c.webhookKeyFile) -}}
{{- $_ := set $c "webhookKeyFile" (include "vaultsync.webhookKeyFile" .) -}}
{{- end -}}
{{- if and .Values.webhook.namespaceKeysSecret (not $c.webhookNamespaceKeysDir) -}}
{{- $_ := set $c "webhookNamespaceKeysDir" (include "vaultsync.webhookNamespaceKeysDir" .) -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/*
One `--flag=value` per config key (camelCase key, kebab-case flag), in key order. Empty strings
and empty lists are left out so the controller's own default (or absence) applies; lists are
comma-separated; numbers (float64 once YAML is parsed) are printed as integers.
*/}}
{{- define "vaultsync.args" -}}
{{- $c := include "vaultsync.config" . | fromYaml -}}
{{- range $key, $value := $c }}
{{- if kindIs "slice" $value }}
{{- if $value }}
- {{ printf "--%s=%s" (kebabcase $key) (join "," $value) | quote }}
{{- end }}
{{- else if kindIs "float64" $value }}
- {{ printf "--%s=%d" (kebabcase $key) (int64 $value) | quote }}
{{- else if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- {{ printf "--%s=%v" (kebabcase $key) $value | quote }}
{{- end }}
{{- end }}
{{- end -}}
