/**
 * Keeps a long-running command (agent, controller, dashboard) alive until SIGTERM or SIGINT,
 * then stops it and resolves, so the process ends with its normal exit code and systemd or a
 * local box sees a clean stop. `onSignal` learns which signal it was, e.g. to log it.
 */
export function untilSignal(stop: () => Promise<void>, onSignal: (signal: NodeJS.Signals) => void = () => {}): Promise<void> {
  return new Promise<void>((stopped) => {
    const handle = (signal: NodeJS.Signals) => {
      onSignal(signal);
      void stop().then(stopped);
    };
    process.once('SIGTERM', handle);
    process.once('SIGINT', handle);
  });
}
