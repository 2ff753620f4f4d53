import type { Health } from '../../src/dashboard/view.js';
import { HEALTH } from './format.js';

export function HealthBadge({ health }: { health: Health }) {
  const h = HEALTH[health];
  return (
    <span className={`badge health health-${health}`}>
      <span aria-hidden="true">{h.icon}</span> {h.label}
    </span>
  );
}
