import { useState } from 'react';
import type { DashboardView, ModuleView } from '../../src/dashboard/view.js';
import { isApiError, moduleAction } from './api.js';
import { bytes, cores } from './format.js';
import { HealthBadge } from './HealthBadge.js';

interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

/** The enclosure with one slot per module, in slot order. */
export function BoxView({ view, token }: { view: DashboardView; token: string | undefined }) {
  const [notice, setNotice] = useState<Notice>();
  const [busy, setBusy] = useState<string>();
  const cp = view.controlPlane;

  const act = async (module: string, action: 'kill' | 'revive') => {
    setBusy(module);
    setNotice(undefined);
    try {
      const r = await moduleAction(module, action, token);
      setNotice({
        kind: 'ok',
        text: r.changed
          ? `${action === 'kill' ? 'Killed' : 'Revived'} ${module}: watch the box ${action === 'kill' ? 'detect it and move its workloads' : 'take it back'}.`
          : `${module} was already ${action === 'kill' ? 'killed' : 'running'}.`,
      });
    } catch (e) {
      const text = isApiError(e)
        ? `Refused (${e.status}): ${e.message}.${e.status === 401 || e.status === 403 ? ' Enter the token `edgebox dashboard` printed at start above.' : e.hint ? ` ${e.hint}` : ''}`
        : String(e);
      setNotice({ kind: 'error', text });
    } finally {
      setBusy(undefined);
    }
  };

  const modules = [...view.modules].sort((a, b) => a.slot - b.slot);
  return (
    <section aria-labelledby="box-title">
      <h2 id="box-title">The box</h2>
      <p className="summary">
        Control plane: {cp.servers.length} server{cp.servers.length === 1 ? '' : 's'} ({cp.servers.join(', ')}), quorum {cp.quorum}, survives{' '}
        {cp.failuresTolerated} server failure{cp.failuresTolerated === 1 ? '' : 's'} with no help
        {cp.promotable.length ? `; promotable: ${cp.promotable.join(', ')}` : ''}.{cp.leader ? ` etcd leader: ${cp.leader}.` : ''}
      </p>
      <div role="status" aria-live="polite" className="notice-area">
        {notice?.kind === 'ok' && <p className="notice ok">{notice.text}</p>}
      </div>
      {notice?.kind === 'error' && (
        <p role="alert" className="notice error">
          {notice.text}
        </p>
      )}
      <div className="enclosure" aria-label={`Enclosure of ${view.box}`} role="group">
        {modules.map((m) => (
          <ModuleSlot key={m.name} m={m} local={view.local} busy={busy === m.name} onAction={act} />
        ))}
      </div>
    </section>
  );
}

function ModuleSlot({
  m,
  local,
  busy,
  onAction,
}: {
  m: ModuleView;
  local: boolean;
  busy: boolean;
  onAction: (module: string, action: 'kill' | 'revive') => void;
}) {
  const id = `module-${m.name}`;
  const r = m.resources;
  return (
    <article className={`slot slot-${m.health}`} aria-labelledby={id} data-module={m.name}>
      <header>
        <span className="slot-number">Slot {m.slot}</span>
        <h3 id={id}>{m.name}</h3>
        <span className={`badge role role-${m.role}`} title={`role from ${m.roleSource}`}>
          <span aria-hidden="true">{m.role === 'server' ? '◆' : '◇'}</span> {m.role}
        </span>
        {m.etcdLeader && (
          <span className="badge leader">
            <span aria-hidden="true">★</span> etcd leader
          </span>
        )}
      </header>
      <p className="health-line">
        <HealthBadge health={m.health} />
        {m.poweredOff && (
          <span className="badge power-off">
            <span aria-hidden="true">■</span> powered off
          </span>
        )}
        <span className="reason">{m.healthReason}</span>
        {m.suspicion !== undefined && m.suspicion >= 1 && <span className="reason"> · suspicion {m.suspicion}</span>}
      </p>
      <dl>
        <dt>Hardware</dt>
        <dd>
          {m.hardware.name}
          {m.hardware.accelerator ? ` · ${m.hardware.accelerator}` : ''}
        </dd>
        <dt>Address</dt>
        <dd>
          {m.address}
          {m.nodeAddress ? ` (local ${m.nodeAddress})` : ''}
        </dd>
        {r && (
          <>
            <dt>CPU</dt>
            <dd>
              <Meter
                label={`CPU requested on ${m.name}`}
                value={r.cpuRequestedMillis}
                max={r.cpuAllocatableMillis}
                text={`${cores(r.cpuRequestedMillis)} of ${cores(r.cpuAllocatableMillis)} cores`}
              />
            </dd>
            <dt>Memory</dt>
            <dd>
              <Meter
                label={`Memory requested on ${m.name}`}
                value={r.memoryRequestedBytes}
                max={r.memoryAllocatableBytes}
                text={`${bytes(r.memoryRequestedBytes)} of ${bytes(r.memoryAllocatableBytes)}`}
              />
            </dd>
          </>
        )}
        <dt>Workloads</dt>
        <dd>
          {m.pods.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <ul className="plain">
              {m.pods.map((p) => (
                <li key={`${p.namespace}/${p.name}`} className={p.terminating ? 'terminating' : ''}>
                  {p.workload ?? p.name} <span className="muted">({p.terminating ? 'terminating' : p.phase.toLowerCase()})</span>
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Peripherals</dt>
        <dd>
          {m.peripherals.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <ul className="plain">
              {m.peripherals.map((p) => (
                <li key={p.name}>
                  {p.name}{' '}
                  <span className="muted">
                    ({p.kind}
                    {p.exclusive ? ', exclusive' : ''})
                  </span>{' '}
                  {p.owner ? <strong>owns{p.ownerSource === 'plan' ? ' (planned)' : ''}</strong> : 'reaches'}
                </li>
              ))}
            </ul>
          )}
        </dd>
        {Object.keys(m.labels).length > 0 && (
          <>
            <dt>Labels</dt>
            <dd className="labels">
              {Object.entries(m.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')}
            </dd>
          </>
        )}
      </dl>
      {local && (
        <div className="actions">
          <button type="button" disabled={busy || m.poweredOff} onClick={() => onAction(m.name, 'kill')} aria-label={`Kill ${m.name}`}>
            ■ Kill
          </button>
          <button type="button" disabled={busy || !m.poweredOff} onClick={() => onAction(m.name, 'revive')} aria-label={`Revive ${m.name}`}>
            ↻ Revive
          </button>
        </div>
      )}
    </article>
  );
}

function Meter({ label, value, max, text }: { label: string; value: number; max: number; text: string }) {
  const pct = max > 0 ? Math.min(100, Math.round((value / max) * 100)) : 0;
  return (
    <span className="meter-line">
      <meter aria-label={label} min={0} max={max || 1} value={value} high={(max || 1) * 0.85} optimum={0}>
        {pct}%
      </meter>
      <span>
        {text} ({pct}%)
      </span>
    </span>
  );
}
