// Validates custom resources with the models the npm packages @kubernetes-models/prometheus-operator,
// @kubernetes-models/cert-manager and @kubernetes-models/gateway-api generate from the upstream CRDs (package-lock.json
// pins them). Used by
// tests/chart/crd_schemas.py when the upstream CRD schemas themselves are not at hand (a clone without the
// workplace's data). Reads a JSON array of documents on stdin; writes one result per document:
// {"errors": [...]} or {"unsupported": true} for a kind no package models.
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Certificate, ClusterIssuer } from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import { Gateway, GatewayClass, HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { ReferenceGrant } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1";

const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "cert-manager.io/v1/ClusterIssuer": ClusterIssuer,
  "cert-manager.io/v1/Certificate": Certificate,
  "gateway.networking.k8s.io/v1/GatewayClass": GatewayClass,
  "gateway.networking.k8s.io/v1/Gateway": Gateway,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
  "gateway.networking.k8s.io/v1beta1/ReferenceGrant": ReferenceGrant,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((doc) => {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) return { unsupported: true };
  try {
    new Model(doc).validate();
    return { errors: [] };
  } catch (error) {
    return { errors: String(error.message).split(", ") };
  }
});
process.stdout.write(JSON.stringify(results));
