/**
 * JSON lines on stdout, one object per event: `{"time","level","msg",...fields}`. Hand-written
 * rather than pino: the agent logs a few lines a minute, and every MB counts against its 60 MB.
 */
export type Level = 'info' | 'warn' | 'error';
export type Log = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLog(base: Record<string, unknown>, write: (line: string) => void = (l) => process.stdout.write(l)): Log {
  return (level, msg, fields = {}) => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields })}\n`);
  };
}
