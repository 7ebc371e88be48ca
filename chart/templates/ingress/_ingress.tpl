{{/*
todo.ingress — one Ingress for the host holding the routes whose `streaming` flag equals .streaming. ingress-nginx
applies annotations per Ingress object, so the SSE route lives on its own Ingress with the streaming annotations;
both share the host and the TLS secret, and only the main one asks cert-manager for the certificate (one Certificate
per secret). Takes (dict "root" $ "streaming" <bool>).
*/}}
{{- define "todo.ingress" -}}
{{- $root := .root }}
{{- $ing := $root.Values.ingress }}
{{- $streaming := .streaming }}
{{- $routes := list }}
{{- range $ing.routes }}
{{- if eq (.streaming | default false) $streaming }}
{{- $svc := get $root.Values.services .service }}
{{- if not $svc }}
{{- fail (printf "ingress.routes: path %s names unknown service %q" .path .service) }}
{{- end }}
{{- if $svc.enabled }}
{{- $routes = append $routes (dict "path" .path "service" .service "port" $svc.port) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $ing.enabled $routes }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ ternary (printf "%s-sse" (include "todo.fullname" $root)) (include "todo.fullname" $root) $streaming }}
  labels:
    {{- include "todo.releaseLabels" $root | nindent 4 }}
  {{- $annotations := ternary $ing.streamingAnnotations $ing.annotations $streaming | default dict | deepCopy }}
  {{- if and $ing.clusterIssuer (not $streaming) }}
  {{- $_ := set $annotations "cert-manager.io/cluster-issuer" $ing.clusterIssuer }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  ingressClassName: {{ $ing.className }}
  {{- if $ing.clusterIssuer }}
  tls:
    - hosts:
        - {{ $ing.host | quote }}
      secretName: {{ $ing.tlsSecretName }}
  {{- end }}
  rules:
    - host: {{ $ing.host | quote }}
      http:
        paths:
          {{- range $routes }}
          - path: {{ .path }}
            pathType: Prefix
            backend:
              service:
                name: {{ include "todo.componentName" (dict "root" $root "name" .service) }}
                port:
                  number: {{ .port }}
          {{- end }}
{{- end }}
{{- end }}
