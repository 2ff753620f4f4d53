import { useState, type FormEvent } from 'react';
import { checkToken, isApiError } from './api.js';

/** Where a user without the token gives it, and sees whether the dashboard accepts it. */
export function TokenForm({ token, onToken }: { token: string | undefined; onToken: (t: string | undefined) => void }) {
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await checkToken(draft.trim());
      setError(undefined);
      setDraft('');
      onToken(draft.trim());
    } catch (err) {
      setError(isApiError(err) ? `${err.message} (${err.status})` : String(err));
    }
  };

  if (token) {
    return (
      <p className="token">
        <span>✓ Actions enabled</span>{' '}
        <button type="button" className="link" onClick={() => onToken(undefined)}>
          Forget token
        </button>
      </p>
    );
  }
  return (
    <form className="token" onSubmit={submit}>
      <label htmlFor="token-input">Read-only. Token for kill and revive:</label>
      <input
        id="token-input"
        type="password"
        autoComplete="off"
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        aria-describedby={error ? 'token-error' : undefined}
      />
      <button type="submit" disabled={!draft.trim()}>
        Use token
      </button>
      {error && (
        <span id="token-error" role="alert" className="error">
          {error}
        </span>
      )}
    </form>
  );
}
