import { useEffect, useState } from 'react';
import type { DashboardView, WhatIfView } from '../../src/dashboard/view.js';

export type Connection = 'connecting' | 'live' | 'reconnecting';

/** The dashboard view, pushed by the server over server-sent events on every change (no polling). */
export function useLiveView(): { view: DashboardView | undefined; connection: Connection } {
  const [view, setView] = useState<DashboardView>();
  const [connection, setConnection] = useState<Connection>('connecting');
  useEffect(() => {
    const source = new EventSource('/api/stream');
    source.addEventListener('view', (e) => {
      setView(JSON.parse((e as MessageEvent<string>).data) as DashboardView);
      setConnection('live');
    });
    // EventSource reconnects by itself (the server asks for 1 s); say so meanwhile.
    source.onerror = () => setConnection('reconnecting');
    return () => source.close();
  }, []);
  return { view, connection };
}

export interface ApiError {
  status: number;
  code: string;
  message: string;
  hint?: string;
}

async function call<T>(method: string, path: string, token?: string): Promise<T> {
  const res = await fetch(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = (await res.json().catch(() => ({}))) as { error?: Omit<ApiError, 'status'> } & T;
  if (!res.ok)
    throw {
      status: res.status,
      code: body.error?.code ?? 'http',
      message: body.error?.message ?? res.statusText,
      ...(body.error?.hint ? { hint: body.error.hint } : {}),
    } satisfies ApiError;
  return body;
}

export const fetchWhatIf = (modules: string[]): Promise<WhatIfView> => call('GET', `/api/what-if?modules=${modules.map(encodeURIComponent).join(',')}`);

export const checkToken = (token: string): Promise<{ authorized: boolean }> => call('GET', '/api/auth', token);

export const moduleAction = (module: string, action: 'kill' | 'revive', token: string | undefined): Promise<{ module: string; changed: boolean }> =>
  call('POST', `/api/modules/${encodeURIComponent(module)}/${action}`, token);

export const isApiError = (e: unknown): e is ApiError => typeof e === 'object' && e !== null && 'status' in e && 'code' in e;
