import type { DashboardView } from '../../src/dashboard/view.js';
import { clock, duration, KIND_LABEL } from './format.js';

const ICON = { detection: '✕', fencing: '⊘', eviction: '⇥', handover: '⇄', placement: '✓', promotion: '◆', rejoin: '↻' } as const;

export function TimelineView({ view }: { view: DashboardView }) {
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <p className="muted">
        Detections, fencings, evictions, handovers, replacements, promotions and rejoins from the cluster's Events, newest first; each duration counts from the
        start of its failover.
      </p>
      {view.timeline.length === 0 ? (
        <p>Nothing has failed yet.</p>
      ) : (
        <ol className="timeline">
          {view.timeline.map((e) => (
            <li key={e.id} className={`tl tl-${e.kind}`}>
              <time dateTime={e.at}>{clock(e.at)}</time>
              <span className="tl-kind">
                <span aria-hidden="true">{ICON[e.kind]}</span> {KIND_LABEL[e.kind]}
              </span>
              <span className="tl-subject">{[e.module, e.workload].filter(Boolean).join(' · ')}</span>
              {e.durationMs !== undefined && <span className="tl-duration">after {duration(e.durationMs)}</span>}
              <span className="tl-message muted">
                {e.reason}: {e.message}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
