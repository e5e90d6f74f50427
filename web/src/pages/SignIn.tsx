import { useState } from 'react';
import { call } from '../api/client';
import { FormError, TextField, useApiForm } from '../kit/form';
import { usePageTitle } from '../kit/page';
import { navigate } from '../router';
import { takeReturnPath, useSession } from '../session';

export function SignIn() {
  usePageTitle('Sign in');
  const { signedIn, notice } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const f = useApiForm(['email', 'password'] as const);
  const onSubmit = f.submit(async () => {
    const me = await call('post', '/auth/login', { body: { email, password }, quiet401: true });
    signedIn(me);
    navigate(takeReturnPath(), { replace: true });
  });
  return (
    <main className="narrow">
      <h1 className="brand">clinlabel</h1>
      <form className="card" onSubmit={onSubmit} aria-label="Sign in" noValidate>
        <h2>Sign in</h2>
        {notice ? <p className="notice" role="status" data-testid="sign-in-notice">{notice}</p> : null}
        <FormError error={f.formError} />
        <TextField label="E-mail address" name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} error={f.fieldError('email')} autoFocus />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} error={f.fieldError('password')} />
        <button type="submit" className="primary" disabled={f.busy}>{f.busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
