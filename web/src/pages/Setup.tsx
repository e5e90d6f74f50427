// First-admin setup from the one-time link `/setup#token=…`. The token lives in
// the URL fragment (never sent to the server by the browser); it is read once
// and the fragment is removed from the address bar.
import { useEffect, useState } from 'react';
import { call } from '../api/client';
import { FormError, TextField, useApiForm } from '../kit/form';
import { usePageTitle } from '../kit/page';
import { navigate } from '../router';
import { useSession } from '../session';

function tokenFromFragment(): string {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  return params.get('token') ?? '';
}

export function Setup() {
  usePageTitle('First-time setup');
  const { signedIn } = useSession();
  const [token] = useState(tokenFromFragment);
  const [needed, setNeeded] = useState<boolean | null>(null);
  const [v, setV] = useState({ organisation_name: '', name: '', email: '', password: '', confirm: '' });
  const f = useApiForm(['token', 'organisation_name', 'name', 'email', 'password', 'confirm'] as const);

  useEffect(() => {
    if (window.location.hash) window.history.replaceState(null, '', window.location.pathname);
    call('get', '/setup', { quiet401: true }).then((s) => setNeeded(s.needed), () => setNeeded(true));
  }, []);

  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });
  const onSubmit = f.submit(async () => {
    if (v.password !== v.confirm) {
      f.setFieldError('confirm', { code: 'mismatch', message: 'The two passwords differ.' });
      return;
    }
    const me = await call('post', '/setup', {
      body: { token, organisation_name: v.organisation_name, name: v.name, email: v.email, password: v.password },
      quiet401: true,
    });
    signedIn(me);
    navigate('/', { replace: true });
  });

  if (needed === false) {
    return (
      <main className="narrow">
        <h1 className="brand">clinlabel</h1>
        <div className="card" data-testid="setup-done">
          <h2>Already set up</h2>
          <p>This installation already has an administrator. <a href="/sign-in">Sign in</a> instead.</p>
        </div>
      </main>
    );
  }
  return (
    <main className="narrow">
      <h1 className="brand">clinlabel</h1>
      <form className="card" onSubmit={onSubmit} aria-label="First-time setup" noValidate>
        <h2>Create the first administrator</h2>
        {!token ? (
          <p className="form-error" role="alert">
            This page needs the one-time setup link the server printed when it first started (it ends in <code>#token=…</code>).
          </p>
        ) : null}
        <FormError error={f.fieldError('token') ?? f.formError} />
        <TextField label="Your organisation's name" name="organisation_name" required value={v.organisation_name} onChange={set('organisation_name')} error={f.fieldError('organisation_name')} autoFocus />
        <TextField label="Your name" name="name" required autoComplete="name" value={v.name} onChange={set('name')} error={f.fieldError('name')} />
        <TextField label="E-mail address" name="email" type="email" autoComplete="username" required value={v.email} onChange={set('email')} error={f.fieldError('email')} />
        <TextField label="Password" name="password" type="password" autoComplete="new-password" required value={v.password} onChange={set('password')} error={f.fieldError('password')} hint="12 to 256 characters." />
        <TextField label="Password again" name="confirm" type="password" autoComplete="new-password" required value={v.confirm} onChange={set('confirm')} error={f.fieldError('confirm')} />
        <button type="submit" className="primary" disabled={f.busy || !token}>{f.busy ? 'Setting up…' : 'Create administrator'}</button>
      </form>
    </main>
  );
}
