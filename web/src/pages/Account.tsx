import { useEffect, useState } from 'react';
import { call, type ApiToken } from '../api/client';
import { FormError, TextField, useApiForm } from '../kit/form';
import { Empty, Page, Section, formatTime } from '../kit/page';
import { useToast } from '../kit/toast';

export function ChangePassword() {
  const toast = useToast();
  const [v, setV] = useState({ current_password: '', new_password: '', confirm: '' });
  const f = useApiForm(['current_password', 'new_password', 'confirm'] as const);
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });
  const onSubmit = f.submit(async () => {
    if (v.new_password !== v.confirm) {
      f.setFieldError('confirm', { code: 'mismatch', message: 'The two new passwords differ.' });
      return;
    }
    await call('post', '/auth/password', { body: { current_password: v.current_password, new_password: v.new_password } });
    setV({ current_password: '', new_password: '', confirm: '' });
    toast.push('success', 'Password changed. Your other sessions have ended.');
  });
  return (
    <Page title="Change password" testId="page-password">
      <form className="card narrow-form" onSubmit={onSubmit} aria-label="Change password" noValidate>
        <FormError error={f.formError} />
        <TextField label="Current password" name="current_password" type="password" autoComplete="current-password" value={v.current_password} onChange={set('current_password')} error={f.fieldError('current_password')} required />
        <TextField label="New password" name="new_password" type="password" autoComplete="new-password" value={v.new_password} onChange={set('new_password')} error={f.fieldError('new_password')} hint="12 to 256 characters." required />
        <TextField label="New password again" name="confirm" type="password" autoComplete="new-password" value={v.confirm} onChange={set('confirm')} error={f.fieldError('confirm')} required />
        <button type="submit" className="primary" disabled={f.busy}>Change password</button>
      </form>
    </Page>
  );
}

export function Tokens() {
  const toast = useToast();
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const f = useApiForm(['name', 'expires_at'] as const);
  const load = () => call('get', '/auth/tokens').then(setTokens, () => setTokens([]));
  useEffect(() => {
    void load();
  }, []);

  const create = f.submit(async () => {
    const expires_at = expires ? new Date(`${expires}T23:59:59`).getTime() : null;
    const r = await call('post', '/auth/tokens', { body: { name, expires_at } });
    setSecret(r.secret);
    setName('');
    setExpires('');
    toast.push('success', 'Token created. Copy it now: it is shown only once.');
    await load();
  });
  const revoke = async (t: ApiToken) => {
    if (!window.confirm(`Revoke the token “${t.name}”? Scripts using it stop working.`)) return;
    try {
      await call('delete', '/auth/tokens/{id}', { path: { id: t.id } });
      toast.push('success', 'Token revoked.');
      await load();
    } catch (e) {
      f.show(e);
    }
  };
  const active = tokens?.filter((t) => !t.revoked_at) ?? [];

  return (
    <Page title="API tokens" testId="page-tokens">
      <Section title="Create a token">
        <p>Personal tokens let scripts call the API as you: send <code>Authorization: Bearer …</code>.</p>
        <form className="inline-form" onSubmit={create} aria-label="Create a token" noValidate>
          <FormError error={f.formError} />
          <TextField label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={f.fieldError('name')} placeholder="e.g. nightly export" required />
          <TextField label="Expires (optional)" name="expires_at" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} error={f.fieldError('expires_at')} />
          <button type="submit" className="primary" disabled={f.busy}>Create token</button>
        </form>
        {secret ? (
          <div className="secret" role="status" data-testid="token-secret">
            <p>Your new token (shown only once):</p>
            <code>{secret}</code>{' '}
            <button type="button" onClick={() => void navigator.clipboard?.writeText(secret).then(() => toast.push('info', 'Copied.'))}>Copy</button>{' '}
            <button type="button" className="link" onClick={() => setSecret(null)}>Hide</button>
          </div>
        ) : null}
      </Section>
      <Section title="Your tokens">
        {tokens === null ? <p>Loading…</p> : null}
        {tokens && active.length === 0 ? <Empty>You have no active tokens.</Empty> : null}
        {active.length > 0 ? (
          <table aria-label="API tokens">
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Starts with</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"></th></tr>
            </thead>
            <tbody>
              {active.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td><code>{t.prefix}…</code></td>
                  <td>{formatTime(t.created_at)}</td>
                  <td>{formatTime(t.last_used_at)}</td>
                  <td>{t.expires_at ? formatTime(t.expires_at) : 'Never'}</td>
                  <td><button type="button" className="danger" onClick={() => void revoke(t)}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
    </Page>
  );
}
