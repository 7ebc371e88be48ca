{{/*
todo.name — the chart name (or nameOverride), trimmed to a DNS label.
*/}}
{{- define "todo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
todo.fullname — release-qualified base name. A release named like the chart (`todo-app`) gives `todo-app`, so
components are `todo-app-<service>`; fullnameOverride wins.
*/}}
{{- define "todo.fullname" -}}
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

{{/*
todo.chart — chart name and version for the helm.sh/chart label.
*/}}
{{- define "todo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
todo.componentName — `<fullname>-<name>` for one component (a service or redis).
Takes (dict "root" $ "name" <component>).
*/}}
{{- define "todo.componentName" -}}
{{- printf "%s-%s" (include "todo.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
todo.selectorLabels — the immutable labels a component's selectors use. Never carries a version, so an upgrade
never changes a selector. Takes (dict "root" $ "name" <component>).
*/}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
todo.labels — the full label set for a component's objects: selector labels plus chart/version metadata.
Takes (dict "root" $ "name" <component>).
*/}}
{{- define "todo.labels" -}}
helm.sh/chart: {{ include "todo.chart" .root }}
{{ include "todo.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "todo.name" .root }}
app.kubernetes.io/version: {{ .root.Values.global.imageTag | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
todo.stateLabels — the labels of the state store's pod templates (Redis, its backup and restore jobs): selector labels
plus part-of and managed-by, no chart or image version, so a release that does not change Redis never restarts it.
Takes (dict "root" $ "name" <component>).
*/}}
{{- define "todo.stateLabels" -}}
{{ include "todo.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "todo.name" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
todo.releaseLabels — labels for release-wide objects (Dapr components, NetworkPolicies, PrometheusRule).
*/}}
{{- define "todo.releaseLabels" -}}
helm.sh/chart: {{ include "todo.chart" . }}
app.kubernetes.io/name: {{ include "todo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ include "todo.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
todo.service — the values of one service, failing the render with a clear message for an unknown name.
Takes (dict "root" $ "name" <service>); returns YAML, use with fromYaml.
*/}}
{{- define "todo.service" -}}
{{- $svc := get .root.Values.services .name }}
{{- if not $svc }}
{{- fail (printf "services.%s is not defined in values" .name) }}
{{- end }}
{{- toYaml $svc }}
{{- end }}

{{/*
todo.image — ghcr.io/<owner>/hackathon-todo/<service>:<global.imageTag>, followed by @<digest> when
global.imageDigests names one for the service (the app stacks always do: the runtime then pulls exactly that build,
and the tag only tells people which commit it is). global.standInImage, when set, replaces it for every service (the
local target's stand-in). Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.image" -}}
{{- $g := .root.Values.global }}
{{- if $g.standInImage }}{{ $g.standInImage }}{{ else }}
{{- $reference := printf "%s/%s/%s/%s:%s" $g.imageRegistry $g.imageOwner $g.imageRepository .name $g.imageTag }}
{{- $digest := get ($g.imageDigests | default dict) .name }}
{{- if $digest }}{{ printf "%s@%s" $reference $digest }}{{ else }}{{ $reference }}{{ end }}
{{- end }}
{{- end }}

{{/*
todo.minReplicas — the lowest replica count a service runs at: the HPA minimum when autoscaling is on,
otherwise `replicas`. Drives the PodDisruptionBudget gate. Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.minReplicas" -}}
{{- $svc := include "todo.service" . | fromYaml }}
{{- if $svc.autoscaling.enabled }}{{ $svc.autoscaling.minReplicas }}{{ else }}{{ $svc.replicas }}{{ end }}
{{- end }}

{{/*
todo.appIdsUsing — JSON list of the Dapr app-ids (service names) whose `dapr.components` include the given
component, in service-name order. Components are scoped to exactly these. Takes (dict "root" $ "component" <name>).
*/}}
{{- define "todo.appIdsUsing" -}}
{{- $ids := list }}
{{- range $name, $svc := .root.Values.services }}
{{- if and $svc.enabled $svc.dapr.enabled (has $.component $svc.dapr.components) }}
{{- $ids = append $ids $name }}
{{- end }}
{{- end }}
{{- toJson $ids }}
{{- end }}

{{/*
todo.promNamespace — PromQL label matcher restricting an alert to the release namespace.
*/}}
{{- define "todo.promNamespace" -}}
namespace="{{ .Release.Namespace }}"
{{- end }}

{{/*
todo.podService — wraps a PromQL vector with a `pod` label so that it also carries `service`: the Deployment the pod
belongs to, i.e. the pod name without the ReplicaSet hash and pod suffix Kubernetes appends (both drawn from the
alphabet of k8s.io/apimachinery/pkg/util/rand: bcdfghjklmnpqrstvwxz2456789). The same `service` value as the
error-rate alerts' (the Kubernetes Service, named like its Deployment). Takes the expression as a string.
*/}}
{{- define "todo.podService" -}}
{{- printf "label_replace(%s, \"service\", \"$1\", \"pod\", \"(.+)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\")" . }}
{{- end }}

{{/*
todo.enabledServices — JSON list of the enabled service names (sorted); NetworkPolicies select app pods with it.
*/}}
{{- define "todo.enabledServices" -}}
{{- $names := list }}
{{- range $name, $svc := .Values.services }}
{{- if $svc.enabled }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
todo.appPodSelector — podSelector body matching the pods of every enabled service of this release (not Redis).
*/}}
{{- define "todo.appPodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "todo.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values:
      {{- include "todo.enabledServices" . | fromJsonArray | toYaml | nindent 6 }}
{{- end }}

{{/*
todo.servicePorts — YAML list of NetworkPolicy ports (TCP) for the given service names.
Takes (dict "root" $ "names" <list>).
*/}}
{{- define "todo.servicePorts" -}}
{{- range .names }}
{{- $svc := get $.root.Values.services . }}
- protocol: TCP
  port: {{ $svc.port }}
{{- end }}
{{- end }}

{{/*
todo.dnsEgress — NetworkPolicy egress rule to cluster DNS (UDP and TCP 53 in networkPolicy.dnsNamespace).
*/}}
{{- define "todo.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dnsNamespace }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}

{{/*
todo.internetEgress — NetworkPolicy egress rule to the internet outside private ranges, on the given TCP ports only
(a list of port numbers). Excluded: RFC 1918, carrier-grade NAT 100.64.0.0/10 (RFC 6598) and link-local
169.254.0.0/16 (RFC 3927, where cloud metadata services answer: DigitalOcean's droplet metadata is 169.254.169.254).
*/}}
{{- define "todo.internetEgress" -}}
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except:
          - 10.0.0.0/8
          - 172.16.0.0/12
          - 192.168.0.0/16
          - 100.64.0.0/10
          - 169.254.0.0/16
  ports:
    {{- range . }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end }}

{{/*
todo.redisPodSecurityContext — the pod securityContext of every pod that runs the Redis image (Redis, its backup and
restore jobs): non-root as redis.runAsUser, the volumes group-owned by it, RuntimeDefault seccomp.
*/}}
{{- define "todo.redisPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.redis.runAsUser }}
runAsGroup: {{ .Values.redis.runAsUser }}
fsGroup: {{ .Values.redis.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
todo.secretRevisionAnnotations — pod-template annotations `checksum/<secret>: "<revision>"`, one per Secret the pod
reads (its containers' secretKeyRefs, and the Dapr components its sidecar loads, which read app-secrets), from
global.secretRevisions: a rotated Secret changes exactly the pod templates that read it, so exactly those workloads
roll. A Secret without a revision in values gets no annotation. Takes (dict "root" $ "secrets" (list <name>...)).
*/}}
{{- define "todo.secretRevisionAnnotations" -}}
{{- $revisions := .root.Values.global.secretRevisions | default dict }}
{{- range $secret := .secrets | uniq | sortAlpha }}
{{- with index $revisions $secret }}
checksum/{{ $secret }}: {{ ternary (printf "%.0f" .) (toString .) (kindIs "float64" .) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
todo.serviceSecrets — JSON list of the Secrets one service's pod reads: app-secrets when it has secretKeys or its
sidecar loads a Dapr component (the state store and pub/sub take their credentials from app-secrets).
Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.serviceSecrets" -}}
{{- $svc := index .root.Values.services .name }}
{{- $secrets := list }}
{{- if or $svc.secretKeys (and $svc.dapr.enabled $svc.dapr.components) }}
{{- $secrets = append $secrets .root.Values.global.appSecretsName }}
{{- end }}
{{- toJson $secrets }}
{{- end }}
