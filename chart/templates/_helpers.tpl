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
sidecar loads a Dapr component (the state store and pub/sub take their credentials from app-secrets), and its own
app-token Secret when it has a sidecar. Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.serviceSecrets" -}}
{{- $svc := index .root.Values.services .name }}
{{- $secrets := list }}
{{- if or $svc.secretKeys (and $svc.dapr.enabled $svc.dapr.components) }}
{{- $secrets = append $secrets .root.Values.global.appSecretsName }}
{{- end }}
{{- if $svc.dapr.enabled }}
{{- $secrets = append $secrets (include "todo.appTokenSecret" .) }}
{{- end }}
{{- toJson $secrets }}
{{- end }}

{{/*
todo.daprAppIds — JSON list of the Dapr app-ids of this release: the enabled services with dapr.enabled, sorted.
*/}}
{{- define "todo.daprAppIds" -}}
{{- $ids := list }}
{{- range $name, $svc := .Values.services }}
{{- if and $svc.enabled $svc.dapr.enabled }}{{ $ids = append $ids $name }}{{ end }}
{{- end }}
{{- toJson $ids }}
{{- end }}

{{/*
todo.daprConfigName — the Configuration one app-id's sidecar reads (dapr.io/config): <dapr.config.name>-<app-id>.
Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.daprConfigName" -}}
{{- printf "%s-%s" .root.Values.dapr.config.name .name | trunc 253 }}
{{- end }}

{{/*
todo.appTokenSecret — the Secret holding one app-id's app API token (key `token`): <dapr.appToken.secretPrefix><app-id>,
written by the app stack (todo_infra/secrets.py DaprAppTokens). Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.appTokenSecret" -}}
{{- printf "%s%s" .root.Values.dapr.appToken.secretPrefix .name }}
{{- end }}

{{/*
todo.checkInvokers — fails the render when services.<name>.dapr.invokers names an app-id that has no Dapr sidecar in
this release (a typo would silently deny the intended caller), names one app-id twice (Dapr keeps only one policy per
caller), or allows a method that reaches a route the sidecar itself calls: a subscription route of this app or
anything under /dapr. Dapr matches a literal method name as a prefix of the called path, segment by segment, after
lower-casing it, so an operation equal to or above such a route would let the caller deliver forged events through
invocation, with the app token attached. Renders nothing. Takes (dict "root" $ "name" <service>).
*/}}
{{- define "todo.checkInvokers" -}}
{{- $name := .name }}
{{- $svc := index .root.Values.services $name }}
{{- $apps := include "todo.daprAppIds" .root | fromJsonArray }}
{{- $routes := list "/dapr" }}
{{- range $svc.subscriptions }}{{ $routes = append $routes (lower .route) }}{{ end }}
{{- $seen := list }}
{{- range $svc.dapr.invokers }}
{{- if not (has .appId $apps) }}
{{- fail (printf "services.%s.dapr.invokers: app-id %q has no Dapr sidecar in this release (allowed: %s)" $name .appId (join ", " $apps)) }}
{{- end }}
{{- if has .appId $seen }}
{{- fail (printf "services.%s.dapr.invokers: app-id %q is listed twice (allowed: one entry per caller)" $name .appId) }}
{{- end }}
{{- $seen = append $seen .appId }}
{{- $caller := .appId }}
{{- range .operations }}
{{- $op := .name }}
{{- range $route := $routes }}
{{- if or (eq $op $route) (hasPrefix (printf "%s/" $op) $route) (hasPrefix (printf "%s/" $route) $op) }}
{{- fail (printf "services.%s.dapr.invokers: %s may not call %q: it reaches %q, a route only the app's own sidecar may call (allowed: methods outside the subscription routes and /dapr)" $name $caller $op $route) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
todo.pubsubScopes — the pub/sub component's topic scoping, as a JSON map of metadata name -> value
(docs/architecture.md, "Dapr sidecars"): allowedTopics and protectedTopics = every topic of `topics` (no other topic
exists for this component, and each one may be used only by an app-id granted it), publishingScopes from
services.<app>.dapr.publishes, subscriptionScopes from services.<app>.subscriptions, both listing every app-id the
component is scoped to (`app=` grants nothing). Fails on a publishes key that is not in `topics`, and on an app-id
that publishes or subscribes without the pubsub component.
*/}}
{{- define "todo.pubsubScopes" -}}
{{- $topics := .Values.topics }}
{{- $all := list }}
{{- range $key := keys $topics | sortAlpha }}{{ $all = append $all (index $topics $key) }}{{ end }}
{{- $publishing := list }}
{{- $subscribing := list }}
{{- range $name := include "todo.daprAppIds" . | fromJsonArray }}
{{- $svc := index $.Values.services $name }}
{{- $uses := has "pubsub" $svc.dapr.components }}
{{- if and (not $uses) (or $svc.dapr.publishes $svc.subscriptions) }}
{{- fail (printf "services.%s: publishes or subscribes without the pubsub component (allowed: add pubsub to services.%s.dapr.components)" $name $name) }}
{{- end }}
{{- $pub := list }}
{{- range $svc.dapr.publishes }}
{{- $topic := get $topics . }}
{{- if not $topic }}
{{- fail (printf "services.%s.dapr.publishes: topic key %q is not in .Values.topics (allowed: %s)" $name . (keys $topics | sortAlpha | join ", ")) }}
{{- end }}
{{- $pub = append $pub $topic }}
{{- end }}
{{- $sub := list }}
{{- range $svc.subscriptions }}{{ $sub = append $sub (get $topics .topic) }}{{ end }}
{{- if $uses }}
{{- $publishing = append $publishing (printf "%s=%s" $name (join "," ($pub | uniq | sortAlpha))) }}
{{- $subscribing = append $subscribing (printf "%s=%s" $name (join "," ($sub | uniq | sortAlpha))) }}
{{- end }}
{{- end }}
{{- toJson (dict "allowedTopics" (join "," $all) "protectedTopics" (join "," $all) "publishingScopes" (join ";" $publishing) "subscriptionScopes" (join ";" $subscribing)) }}
{{- end }}
