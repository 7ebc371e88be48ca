{{/*
The per-service shape, written once. Each templates/<service>/*.yaml, templates/hpa/<service>-hpa.yaml and
templates/monitoring/servicemonitor-<service>.yaml is a one-line include of one of these with
(dict "root" $ "name" "<service>"). Differences between services are values (services.<name>), never branches on
the name.
*/}}

{{/*
todo.deployment — Deployment for one service: GHCR image, pull secret, least-privilege secretKeyRefs, Dapr sidecar
annotations with explicit sidecar requests, probes, requests/limits, restricted security context, topology spread.
`replicas` is omitted when an HPA owns the count.
*/}}
{{- define "todo.deployment" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $svc := include "todo.service" . | fromYaml }}
{{- if $svc.enabled }}
{{- $dapr := $root.Values.dapr }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "todo.componentName" . }}
  labels:
    {{- include "todo.labels" . | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 10
  selector:
    matchLabels:
      {{- include "todo.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "todo.labels" . | nindent 8 }}
      {{- $secretAnnotations := include "todo.secretRevisionAnnotations" (dict "root" $root "secrets" (include "todo.serviceSecrets" . | fromJsonArray)) | trim }}
      {{- if or $svc.dapr.enabled $secretAnnotations }}
      annotations:
        {{- with $secretAnnotations }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- if $svc.dapr.enabled }}
        dapr.io/enabled: "true"
        dapr.io/app-id: {{ $name | quote }}
        dapr.io/app-port: {{ $svc.port | quote }}
        dapr.io/app-protocol: "http"
        dapr.io/enable-metrics: "true"
        dapr.io/metrics-port: {{ $dapr.metricsPort | quote }}
        dapr.io/log-level: {{ $dapr.logLevel | quote }}
        dapr.io/sidecar-cpu-request: {{ $dapr.sidecar.cpuRequest | quote }}
        dapr.io/sidecar-memory-request: {{ $dapr.sidecar.memoryRequest | quote }}
        dapr.io/sidecar-cpu-limit: {{ $dapr.sidecar.cpuLimit | quote }}
        dapr.io/sidecar-memory-limit: {{ $dapr.sidecar.memoryLimit | quote }}
        dapr.io/config: {{ include "todo.daprConfigName" . | quote }}
        {{- /* daprd sends this app-id's own token as `dapr-api-token` on every call to the app (docs/architecture.md,
        "Dapr sidecars"); the app container gets the same token below. */}}
        dapr.io/app-token-secret: {{ include "todo.appTokenSecret" . | quote }}
        {{- if not $root.Values.podDefaults.automountServiceAccountToken }}
        {{- /* daprd always loads a built-in Kubernetes secret store that needs the pod's API token; without a
        token it exits at startup unless the store is disabled (docs/architecture.md, "Dapr sidecars"). */}}
        dapr.io/disable-builtin-k8s-secret-store: "true"
        {{- end }}
      {{- end }}
    spec:
      automountServiceAccountToken: {{ $root.Values.podDefaults.automountServiceAccountToken }}
      {{- with $root.Values.global.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      imagePullSecrets:
        - name: {{ $root.Values.global.imagePullSecretName }}
      terminationGracePeriodSeconds: {{ $root.Values.podDefaults.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podDefaults.securityContext | nindent 8 }}
      {{- with $root.Values.podDefaults.topologySpread }}
      {{- if .enabled }}
      topologySpreadConstraints:
        - maxSkew: {{ .maxSkew }}
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ .whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "todo.selectorLabels" (dict "root" $root "name" $name) | nindent 14 }}
          matchLabelKeys:
            - pod-template-hash
      {{- end }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "todo.image" . | quote }}
          imagePullPolicy: {{ $root.Values.global.imagePullPolicy }}
          ports:
            - name: http
              containerPort: {{ $svc.port }}
              protocol: TCP
          env:
            {{- range $svc.secretKeys }}
            - name: {{ . }}
              valueFrom:
                secretKeyRef:
                  name: {{ $root.Values.global.appSecretsName }}
                  key: {{ . }}
            {{- end }}
            {{- range $key, $value := $svc.env }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
            {{- if $svc.dapr.enabled }}
            - name: {{ $dapr.appToken.env }}
              valueFrom:
                secretKeyRef:
                  name: {{ include "todo.appTokenSecret" . }}
                  key: token
            {{- /* A component's name (and the topics of pub/sub) reach only the app-ids in that component's scopes
            (todo.appIdsUsing): the sidecar of any other app has no such component. */}}
            {{- if has "pubsub" $svc.dapr.components }}
            {{- range $key, $topic := $root.Values.topics }}
            - name: {{ printf "%s_TOPIC" ($key | snakecase | upper) }}
              value: {{ $topic | quote }}
            {{- end }}
            - name: DAPR_PUBSUB_NAME
              value: {{ $dapr.pubsub.name | quote }}
            {{- end }}
            {{- if and (has "statestore" $svc.dapr.components) $root.Values.redis.enabled }}
            - name: DAPR_STATESTORE_NAME
              value: {{ $dapr.statestore.name | quote }}
            {{- end }}
            {{- end }}
          readinessProbe:
            httpGet:
              path: {{ $svc.health.readinessPath }}
              port: http
            initialDelaySeconds: 5
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: {{ $svc.health.livenessPath }}
              port: http
            initialDelaySeconds: 20
            periodSeconds: 20
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            privileged: false
            readOnlyRootFilesystem: {{ $svc.readOnlyRootFilesystem }}
            capabilities:
              drop: [ALL]
          {{- with $svc.writablePaths }}
          volumeMounts:
            {{- range $i, $path := . }}
            - name: {{ printf "writable-%d" $i }}
              mountPath: {{ $path }}
            {{- end }}
          {{- end }}
      {{- with $svc.writablePaths }}
      volumes:
        {{- range $i, $path := . }}
        - name: {{ printf "writable-%d" $i }}
          emptyDir:
            sizeLimit: 64Mi
        {{- end }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
todo.svc — ClusterIP Service for one service, port named `http` (ServiceMonitors and the Ingress refer to it).
*/}}
{{- define "todo.svc" -}}
{{- $svc := include "todo.service" . | fromYaml }}
{{- if $svc.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "todo.componentName" . }}
  labels:
    {{- include "todo.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "todo.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $svc.port }}
      targetPort: http
      protocol: TCP
{{- end }}
{{- end }}

{{/*
todo.hpa — autoscaling/v2 HPA on the app container's CPU utilisation (docs/architecture.md, "Autoscaling"). Renders nothing unless
services.<name>.autoscaling.enabled.
*/}}
{{- define "todo.hpa" -}}
{{- $root := .root }}
{{- $svc := include "todo.service" . | fromYaml }}
{{- if and $svc.enabled $svc.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "todo.componentName" . }}
  labels:
    {{- include "todo.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "todo.componentName" . }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: ContainerResource
      containerResource:
        name: cpu
        container: {{ .name }}
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: {{ $root.Values.autoscaling.scaleUpStabilizationSeconds }}
    scaleDown:
      stabilizationWindowSeconds: {{ $root.Values.autoscaling.scaleDownStabilizationSeconds }}
{{- end }}
{{- end }}

{{/*
todo.pdb — PodDisruptionBudget for a service whose minimum replica count (todo.minReplicas) is >= 2; a budget on a
single replica would only block node drains.
*/}}
{{- define "todo.pdb" -}}
{{- $svc := include "todo.service" . | fromYaml }}
{{- if and $svc.enabled (ge (include "todo.minReplicas" . | int) 2) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "todo.componentName" . }}
  labels:
    {{- include "todo.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "todo.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
todo.serviceMonitor — Prometheus Operator ServiceMonitor scraping /metrics on the `http` port every 30 s (docs/architecture.md, "Monitoring").
Renders nothing unless monitoring.serviceMonitors.enabled and services.<name>.metrics.enabled.
*/}}
{{- define "todo.serviceMonitor" -}}
{{- $root := .root }}
{{- $svc := include "todo.service" . | fromYaml }}
{{- $sm := $root.Values.monitoring.serviceMonitors }}
{{- if and $svc.enabled $svc.metrics.enabled $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "todo.componentName" . }}
  labels:
    {{- include "todo.labels" . | nindent 4 }}
    {{- with $root.Values.monitoring.selectorLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ $root.Release.Namespace }}
  selector:
    matchLabels:
      {{- include "todo.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: {{ $sm.path }}
      interval: {{ $sm.interval }}
      scheme: http
{{- end }}
{{- end }}
