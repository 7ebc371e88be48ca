// Validates custom resources with the models the npm packages @kubernetes-models/prometheus-operator and
// @kubernetes-models/cert-manager generate from the upstream CRDs (package-lock.json pins them). Used by
// tests/chart/crd_schemas.py when the upstream CRD schemas themselves are not at hand (a clone without the
// workplace's data). Reads a JSON array of documents on stdin; writes one result per document:
// {"errors": [...]} or {"unsupported": true} for a kind no package models.
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { ClusterIssuer } from "@kubernetes-models/cert-manager/cert-manager.io/v1";

const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "cert-manager.io/v1/ClusterIssuer": ClusterIssuer,
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
