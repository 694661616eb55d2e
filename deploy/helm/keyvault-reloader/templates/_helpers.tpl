{{/* Names and labels. */}}
{{- define "keyvault-reloader.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keyvault-reloader.fullname" -}}
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

{{- define "keyvault-reloader.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyvault-reloader.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keyvault-reloader.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keyvault-reloader.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keyvault-reloader.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keyvault-reloader.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keyvault-reloader.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Which engines run. */}}
{{- define "keyvault-reloader.reloaderOn" -}}
{{- if has .Values.mode (list "all" "reloader") }}true{{ end }}
{{- end }}
{{- define "keyvault-reloader.syncOn" -}}
{{- if has .Values.mode (list "all" "sync") }}true{{ end }}
{{- end }}

{{/* The sync engine's files from values: custom cloud environments and a CA bundle. */}}
{{- define "keyvault-reloader.azureConfig" -}}
{{- if and (include "keyvault-reloader.syncOn" .) (or .Values.sync.cloudEnvFiles .Values.sync.caBundle) }}true{{ end }}
{{- end }}
{{- define "keyvault-reloader.caBundlePath" -}}
/etc/keyvault-reloader/ca-bundle.pem
{{- end }}

{{/* Watched namespaces for namespaced RBAC: the list minus the exclusions. */}}
{{- define "keyvault-reloader.rbacNamespaces" -}}
{{- $out := list }}
{{- range .Values.namespaces }}
{{- if not (has . $.Values.excludeNamespaces) }}{{ $out = append $out . }}{{ end }}
{{- end }}
{{- $out | uniq | toJson }}
{{- end }}

{{/*
What the controller does in the namespaces it watches, per engine; the same
rules go into the ClusterRole or into each namespace's Role. Every verb here is
one the code sends (see docs/operations.md, "RBAC").
*/}}
{{- define "keyvault-reloader.reloaderRules" -}}
# Reloader: Secrets are watched (names and a keyed digest are kept, never values).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch"]
# Reloader: workloads are watched and restarted with one strategic-merge patch.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["list", "watch", "patch"]
# Reloader, mounted-secret rotation: the Key Vault versions the CSI driver
# records per pod, and which pods belong to a workload's current revision.
- apiGroups: ["secrets-store.csi.x-k8s.io"]
  resources: ["secretproviderclasspodstatuses"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
{{- end }}

{{- define "keyvault-reloader.syncRules" -}}
# Sync engine: reads SecretProviderClasses; reads a synced Secret by name
# before writing it, creates it, or updates it (only if it owns it).
- apiGroups: ["secrets-store.csi.x-k8s.io"]
  resources: ["secretproviderclasses"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "update"]
# Sync engine: a token of the namespace's own service account, exchanged for
# Key Vault access; only for the service accounts named in the values.
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  resourceNames: {{ prepend .Values.sync.additionalServiceAccountNames .Values.sync.serviceAccountName | uniq | toJson }}
  verbs: ["create"]
{{- end }}

{{- define "keyvault-reloader.eventRules" -}}
# Events on the objects acted on (what changed, never a value).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
The rules of one Role (dict "root" $ "syncHere" bool) or of the ClusterRole
(syncHere: the sync engine acts in every watched namespace).
*/}}
{{- define "keyvault-reloader.watchRules" -}}
{{- $root := .root }}
{{- if include "keyvault-reloader.reloaderOn" $root }}
{{ include "keyvault-reloader.reloaderRules" $root }}
{{- end }}
{{- if and (include "keyvault-reloader.syncOn" $root) .syncHere }}
{{ include "keyvault-reloader.syncRules" $root }}
{{- end }}
{{ include "keyvault-reloader.eventRules" $root }}
{{- end }}

{{/* What the controller does in its own namespace. */}}
{{- define "keyvault-reloader.ownRules" -}}
# Leader election.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ .Values.leaderElection.leaseName | quote }}]
  verbs: ["get", "update"]
{{- if include "keyvault-reloader.reloaderOn" . }}
# The digest key, created by the first replica (create cannot be limited by name).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: [{{ .Values.reloader.keySecretName | quote }}]
  verbs: ["get"]
{{- end }}
{{- end }}

{{/* Fails the render on combinations that cannot work. */}}
{{- define "keyvault-reloader.validate" -}}
{{- if not (has .Values.mode (list "all" "reloader" "sync")) }}
{{- fail (printf "mode %q: use all, reloader or sync" .Values.mode) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: without a Lease every replica would act" }}
{{- end }}
{{- if and .Values.rbac.create .Values.rbac.namespaced (eq (len (fromJsonArray (include "keyvault-reloader.rbacNamespaces" .))) 0) }}
{{- fail "rbac.namespaced needs the namespaces to watch in `namespaces` (a Role is created in each)" }}
{{- end }}
{{- range .Values.sync.namespaces }}
{{- if and $.Values.namespaces (not (has . $.Values.namespaces)) }}
{{- fail (printf "sync.namespaces: %s is not in namespaces; the sync engine acts only where the controller watches" .) }}
{{- end }}
{{- end }}
{{- if and .Values.sync.namespaces (not (include "keyvault-reloader.syncOn" .)) }}
{{- fail "sync.namespaces needs mode all or sync" }}
{{- end }}
{{- if and .Values.workloadIdentity.enabled (not .Values.workloadIdentity.clientId) }}
{{- fail "workloadIdentity.enabled needs workloadIdentity.clientId" }}
{{- end }}
{{- end }}
