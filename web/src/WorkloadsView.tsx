import type { DashboardView, WorkloadView } from '../../src/dashboard/view.js';
import { clock, duration } from './format.js';

const STATE: Record<WorkloadView['state'], string> = {
  running: '✓ running',
  starting: '… starting',
  moving: '⇄ moving',
  down: '✕ down',
  'not-deployed': '– not deployed',
};

export function WorkloadsView({ view }: { view: DashboardView }) {
  return (
    <section aria-labelledby="workloads-title">
      <h2 id="workloads-title">Workloads</h2>
      <div className="table-wrap" role="region" aria-labelledby="workloads-title" tabIndex={0}>
        <table>
          <caption>Where each workload runs, where it could run (the plan's capable modules), and its last failover.</caption>
          <thead>
            <tr>
              <th scope="col">Workload</th>
              <th scope="col">Criticality</th>
              <th scope="col">State</th>
              <th scope="col">Runs on</th>
              <th scope="col">Could run on</th>
              <th scope="col">Last failover</th>
            </tr>
          </thead>
          <tbody>
            {view.workloads.map((w) => (
              <tr key={w.name} data-workload={w.name}>
                <th scope="row">
                  {w.name}
                  <span className="muted small">
                    {' '}
                    {w.kind}
                    {w.singleton ? ', singleton' : ''}
                    {w.peripherals.length ? `, uses ${w.peripherals.join(', ')}` : ''}
                  </span>
                </th>
                <td>
                  <span className={`badge crit crit-${w.criticality}`}>{w.criticality}</span>
                </td>
                <td className={`state state-${w.state}`}>{STATE[w.state]}</td>
                <td className="runs-on">{w.runningOn.length ? w.runningOn.join(', ') : <span className="muted">nowhere</span>}</td>
                <td>
                  {w.capable.length ? (
                    w.capable.map((m, i) => (
                      <span key={m}>
                        {i > 0 && ', '}
                        {w.planned.includes(m) ? <strong title="planned here">{m}</strong> : m}
                      </span>
                    ))
                  ) : (
                    <span className="muted">no module</span>
                  )}
                </td>
                <td className="failover">
                  {w.lastFailover ? (
                    <>
                      {w.lastFailover.from ?? '?'} → {w.lastFailover.to ?? '?'}
                      {w.lastFailover.durationMs !== undefined ? (
                        <>
                          {' '}
                          in <strong>{duration(w.lastFailover.durationMs)}</strong>
                        </>
                      ) : (
                        ' (in progress)'
                      )}
                      <span className="muted small">
                        {' '}
                        at {clock(w.lastFailover.startedAt)}
                        {w.lastFailover.source === 'pods' ? ', from pod times' : ''}
                      </span>
                    </>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted small">Bold: where the plan puts it with every module up.</p>
    </section>
  );
}
