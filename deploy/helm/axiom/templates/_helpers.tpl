{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "axiom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; role names are appended to it, so keep room for "-listener". */}}
{{- define "axiom.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "axiom.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Call with (dict "ctx" $ "role" "api"). */}}
{{- define "axiom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "axiom.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/* All labels. Call with (dict "ctx" $ "role" "api"). */}}
{{- define "axiom.labels" -}}
helm.sh/chart: {{ include "axiom.chart" .ctx }}
{{ include "axiom.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: axiom
{{- end -}}

{{- define "axiom.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "axiom.secretName" -}}
{{- required "existingSecret is required: a Secret holding the database and broker URLs (see values.yaml)" .Values.existingSecret -}}
{{- end -}}

{{- define "axiom.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "axiom.fullname" .)) -}}
{{- end -}}

{{/*
The non-secret settings as a YAML map of environment name to string: values.settings, then the ones
the chart derives from its own values (they win, so ports and mount path always agree with the pods).
*/}}
{{- define "axiom.settings" -}}
{{- $s := dict -}}
{{- range $k, $v := .Values.settings -}}
{{- if kindIs "slice" $v -}}
{{- $_ := set $s $k (toJson $v) -}}
{{- else -}}
{{- $_ := set $s $k (toString $v) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $s "AXIOM_DATA_DIR" (toString .Values.persistence.mountPath) -}}
{{- $_ := set $s "AXIOM_DICOM_PORT" (toString .Values.listener.port) -}}
{{- $_ := set $s "AXIOM_API_HOST" "0.0.0.0" -}}
{{- $_ := set $s "AXIOM_API_PORT" (toString .Values.api.port) -}}
{{- toYaml $s -}}
{{- end -}}

{{/* Environment from the Secret (by reference) and extraEnv: the `env:` list of every Axiom container. */}}
{{- define "axiom.secretEnv" -}}
- name: AXIOM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "axiom.secretName" . }}
      key: {{ .Values.secretKeys.databaseUrl }}
- name: AXIOM_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "axiom.secretName" . }}
      key: {{ .Values.secretKeys.brokerUrl }}
- name: AXIOM_RESULT_BACKEND
  valueFrom:
    secretKeyRef:
      name: {{ include "axiom.secretName" . }}
      key: {{ .Values.secretKeys.resultBackend }}
      optional: true
- name: AXIOM_ANON_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "axiom.secretName" . }}
      key: {{ .Values.secretKeys.anonSecret }}
      optional: true
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by every role. */}}
{{- define "axiom.podCommon" -}}
{{- include "axiom.podCommonWith" (dict "ctx" . "nodeSelector" dict "tolerations" list) -}}
{{- end -}}

{{/* podCommon plus a role's own nodeSelector entries and tolerations, merged with the global ones.
Call with (dict "ctx" $ "nodeSelector" MAP "tolerations" LIST). */}}
{{- define "axiom.podCommonWith" -}}
{{- $v := .ctx.Values -}}
automountServiceAccountToken: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with merge (deepCopy .nodeSelector) ($v.nodeSelector | default dict) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat .tolerations ($v.tolerations | default list) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod template metadata. Call with (dict "ctx" $ "role" "api"). */}}
{{- define "axiom.podMetadata" -}}
labels:
  {{- include "axiom.selectorLabels" . | nindent 2 }}
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "axiom.settings" .ctx | sha256sum }}
  {{- with .ctx.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Container fields shared by every role except the migration Job. */}}
{{- define "axiom.containerCommon" -}}
image: {{ include "axiom.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "axiom.fullname" . }}
env:
  {{- include "axiom.secretEnv" . | nindent 2 }}
{{- end -}}

{{/* The data volume and a writable /tmp (the root filesystem is read-only). */}}
{{- define "axiom.dataVolume" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "axiom.claimName" . }}
{{ include "axiom.tmpVolume" . }}
{{- end -}}

{{- define "axiom.dataMount" -}}
- name: data
  mountPath: {{ .Values.persistence.mountPath }}
{{ include "axiom.tmpMount" . }}
{{- end -}}

{{- define "axiom.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "axiom.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* A worker's liveness: Celery's ping to this pod's own node. Call with the probe values. */}}
{{- define "axiom.workerProbe" -}}
livenessProbe:
  exec:
    command:
      - sh
      - -c
      - 'exec celery -A workers.app inspect ping --timeout 10 --destination "axiom-worker-1@${HOSTNAME}"'
  initialDelaySeconds: {{ .initialDelaySeconds }}
  periodSeconds: {{ .periodSeconds }}
  timeoutSeconds: {{ .timeoutSeconds }}
  failureThreshold: {{ .failureThreshold }}
{{- end -}}
