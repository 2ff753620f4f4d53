import { useEffect, useState } from 'react';
import type { DashboardView, WhatIfView as WhatIf } from '../../src/dashboard/view.js';
import { fetchWhatIf, isApiError } from './api.js';

/** Pick one or two modules; the plan's scenario for losing them. Works without a cluster. */
export function WhatIfView({ view }: { view: DashboardView }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const [result, setResult] = useState<WhatIf>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (chosen.length === 0) {
      setResult(undefined);
      return;
    }
    let current = true;
    fetchWhatIf(chosen).then(
      (r) => {
        if (current) {
          setResult(r);
          setError(undefined);
        }
      },
      (e) => {
        if (current) setError(isApiError(e) ? e.message : String(e));
      },
    );
    return () => {
      current = false;
    };
  }, [chosen]);

  const toggle = (m: string) => setChosen((c) => (c.includes(m) ? c.filter((x) => x !== m) : [...c, m]));
  const servers = view.controlPlane.servers;
  return (
    <section aria-labelledby="whatif-title">
      <h2 id="whatif-title">What-if</h2>
      <fieldset>
        <legend>Lose which modules? (one or two)</legend>
        <div className="choices">
          {view.modules.map((m) => (
            <label key={m.name} className="choice">
              <input
                type="checkbox"
                checked={chosen.includes(m.name)}
                disabled={!chosen.includes(m.name) && chosen.length >= 2}
                onChange={() => toggle(m.name)}
              />
              {m.name} <span className="muted small">({servers.includes(m.name) ? 'server' : 'agent'})</span>
            </label>
          ))}
        </div>
      </fieldset>
      <div aria-live="polite" className="whatif-result">
        {error && (
          <p role="alert" className="notice error">
            {error}
          </p>
        )}
        {!result ? (
          <p className="muted">Choose a module to see what its loss does to the box.</p>
        ) : (
          <article aria-label={`If ${result.failed.join(' and ')} fail`}>
            <h3>
              If {result.failed.join(' and ')} fail{result.failed.length === 1 ? 's' : ''}
            </h3>
            <p className={`verdict ${result.quorumKept ? 'ok' : result.restorable ? 'warn' : 'bad'}`}>
              <span aria-hidden="true">{result.quorumKept ? '✓' : result.restorable ? '!' : '✕'}</span>{' '}
              {result.quorumKept ? 'Quorum kept' : result.restorable ? 'Quorum lost, restorable' : 'Quorum lost, not restorable'} (
              {result.survivingServers.length} of {servers.length} servers left, quorum {result.quorum})
            </p>
            <ul>
              {result.summary.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
            <dl className="facts">
              <dt>Voters after restore</dt>
              <dd>{result.votersAfterRestore}</dd>
              <dt>Promoted</dt>
              <dd>{result.promoted.join(', ') || 'none'}</dd>
              <dt>Unplaced workloads</dt>
              <dd>{result.unplaced.map((u) => u.workload).join(', ') || 'none'}</dd>
              <dt>Orphaned peripherals</dt>
              <dd>{result.orphanedPeripherals.join(', ') || 'none'}</dd>
            </dl>
          </article>
        )}
      </div>
    </section>
  );
}
