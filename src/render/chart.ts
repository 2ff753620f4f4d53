import { stringify } from 'yaml';
import type { BoxSpec } from '../spec/schema.js';
import { renderAgentRbac } from './agent-rbac.js';
import { CONTROLLER_IMAGE, EDGEBOX_VERSION, renderController } from './controller.js';
import type { KubeObject } from './kube-object.js';
import { renderMonitoring } from './monitoring.js';
import { renderPriorityClasses } from './priority-classes.js';
import type { RenderedFile } from './render-box.js';
import { yamlStream } from './yaml-output.js';

/**
 * `edgebox render --chart DIR`: a Helm chart of the box's edgebox objects, written from the same
 * functions `edgebox render` and `edgebox apply` use, so that `helm template` gives the same
 * objects (test/integration/chart.test.ts checks it with the helm built by `local setup`). Only
 * the image is a value (and the monitoring objects a switch): everything else follows from the
 * spec, and the namespace is edgebox-system by contract (the controller and agents look for their
 * Leases there), so it is not a value either.
 */

export const CHART_NAME = 'edgebox';

/** What the chart holds, by where: `crds/` (installed first, never templated), `templates/`, and the monitoring templates. */
export function chartObjects(box: BoxSpec): { crds: KubeObject[]; core: KubeObject[]; monitoring: KubeObject[] } {
  const controller = renderController(box);
  return {
    crds: controller.filter((o) => o.kind === 'CustomResourceDefinition'),
    // The PriorityClasses: the controller's pods name edgebox-critical.
    core: [...renderPriorityClasses(box), ...controller.filter((o) => o.kind !== 'CustomResourceDefinition'), ...renderAgentRbac(box)],
    monitoring: renderMonitoring(box),
  };
}

/** A placeholder no spec can produce, replaced by the image value once the YAML is written. */
const IMAGE_SLOT = 'edgebox-chart-image-value';

/** Helm reads `{{` and `}}` in templates as actions; the objects' own (Prometheus and Grafana templates) are printed as literals. */
function helmLiteral(yamlText: string): string {
  return yamlText.replace(/\{\{|\}\}/g, (m) => `{{ "${m}" }}`);
}

function template(header: string, objects: KubeObject[]): string {
  const text = yamlStream(header, JSON.parse(JSON.stringify(objects).replaceAll(JSON.stringify(CONTROLLER_IMAGE), JSON.stringify(IMAGE_SLOT))) as unknown[]);
  return helmLiteral(text).replaceAll(IMAGE_SLOT, '{{ .Values.image | quote }}');
}

export function renderChart(box: BoxSpec): RenderedFile[] {
  const { crds, core, monitoring } = chartObjects(box);
  const header = `Rendered by edgebox from box ${box.metadata.name} (\`edgebox render --chart\`); change the spec and render again instead of editing.`;
  return [
    {
      path: 'Chart.yaml',
      content: stringify({
        apiVersion: 'v2',
        name: CHART_NAME,
        description: `edgebox for box ${box.metadata.name}: the self-healing controller, its RBAC, the agents' identity, and monitoring`,
        type: 'application',
        version: EDGEBOX_VERSION,
        appVersion: EDGEBOX_VERSION,
      }),
    },
    {
      path: 'values.yaml',
      content: [
        '# The controller image.',
        `image: ${CONTROLLER_IMAGE}`,
        "# ServiceMonitors, PrometheusRule and the Grafana dashboard: needs the Prometheus Operator's CRDs.",
        'monitoring:',
        '  enabled: false',
        '',
      ].join('\n'),
    },
    { path: 'crds/edgebox-crd.yaml', content: yamlStream(header, crds) },
    { path: 'templates/edgebox.yaml', content: template(header, core) },
    { path: 'templates/monitoring.yaml', content: `{{- if .Values.monitoring.enabled }}\n${template(header, monitoring)}{{- end }}\n` },
  ];
}
