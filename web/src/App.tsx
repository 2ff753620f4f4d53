import { useEffect, useState } from 'react';
import { useLiveView } from './api.js';
import { BoxView } from './BoxView.js';
import { TimelineView } from './TimelineView.js';
import { TokenForm } from './TokenForm.js';
import { WhatIfView } from './WhatIfView.js';
import { WorkloadsView } from './WorkloadsView.js';

const ROUTES = [
  { path: 'box', title: 'Box' },
  { path: 'workloads', title: 'Workloads' },
  { path: 'timeline', title: 'Timeline' },
  { path: 'what-if', title: 'What-if' },
] as const;
type Route = (typeof ROUTES)[number]['path'];

const TOKEN_KEY = 'edgebox-dashboard-token';

/**
 * The token arrives in the URL's fragment (`#token=...`, never sent to the server), is kept for
 * this tab only, and the fragment becomes a route again so it does not linger in the address bar.
 */
function takeTokenFromUrl(): string | undefined {
  const m = /^#token=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]!);
    history.replaceState(null, '', '#/box');
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

function currentRoute(): Route {
  const path = window.location.hash.replace(/^#\/?/, '');
  return ROUTES.find((r) => r.path === path)?.path ?? 'box';
}

export function App() {
  const [token, setToken] = useState<string | undefined>(takeTokenFromUrl);
  const [route, setRoute] = useState<Route>(currentRoute);
  const { view, connection } = useLiveView();

  useEffect(() => {
    const onHash = () => {
      // The token URL may be pasted into a tab that already shows the dashboard.
      setToken(takeTokenFromUrl());
      setRoute(currentRoute());
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.title = `${ROUTES.find((r) => r.path === route)!.title} · ${view?.box ?? 'edgebox'} dashboard`;
  }, [route, view?.box]);

  const saveToken = (t: string | undefined) => {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    setToken(t);
  };

  const cluster = view?.cluster;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <h1>
          edgebox <span className="box-name">{view?.box ?? '…'}</span>
        </h1>
        <p className="status" aria-live="polite">
          <span className={`conn conn-${connection}`}>
            {connection === 'live' ? '● live' : connection === 'reconnecting' ? '○ reconnecting…' : '○ connecting…'}
          </span>
          {cluster && (
            <span className="cluster">
              {cluster.state === 'none'
                ? cluster.message
                : cluster.state === 'error'
                  ? `cluster ${cluster.server}: ${cluster.message}`
                  : `cluster ${cluster.server} (${cluster.state})`}
            </span>
          )}
        </p>
        {view?.local && <TokenForm token={token} onToken={saveToken} />}
        <nav aria-label="Views">
          <ul>
            {ROUTES.map((r) => (
              <li key={r.path}>
                <a href={`#/${r.path}`} aria-current={route === r.path ? 'page' : undefined}>
                  {r.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {!view ? (
          <p>Loading the box…</p>
        ) : route === 'box' ? (
          <BoxView view={view} token={token} />
        ) : route === 'workloads' ? (
          <WorkloadsView view={view} />
        ) : route === 'timeline' ? (
          <TimelineView view={view} />
        ) : (
          <WhatIfView view={view} />
        )}
      </main>
    </>
  );
}
