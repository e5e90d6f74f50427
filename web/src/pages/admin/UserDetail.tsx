import { useEffect, useState } from 'react';
import { ApiError, call, type Role, type User } from '../../api/client';
import { FormError, SelectField, TextField, useApiForm } from '../../kit/form';
import { Page, ROLE_LABELS, Section, formatTime } from '../../kit/page';
import { useToast } from '../../kit/toast';
import { Link, useParams } from '../../router';
import { UserCertifications } from './Certifications';

const ROLES: Role[] = ['admin', 'pm', 'qa_reviewer', 'tasker', 'client_admin', 'client_member'];

export function UserDetail() {
  const { id } = useParams();
  const toast = useToast();
  const [user, setUser] = useState<User | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [v, setV] = useState({ name: '', role: 'tasker' as Role });
  const f = useApiForm(['name', 'role', 'disabled'] as const);

  useEffect(() => {
    call('get', '/users/{id}', { path: { id: id! } }).then(
      (u) => {
        setUser(u);
        setV({ name: u.name, role: u.role });
      },
      (e) => setError(e as ApiError),
    );
  }, [id]);

  const save = f.submit(async () => {
    const u = await call('patch', '/users/{id}', { path: { id: id! }, body: { name: v.name, role: v.role } });
    setUser(u);
    toast.push('success', 'Changes saved.');
  });
  const toggle = f.submit(async () => {
    const u = await call('patch', '/users/{id}', { path: { id: id! }, body: { disabled: !user!.disabled } });
    setUser(u);
    toast.push('success', u.disabled ? 'Account disabled; its sessions have ended.' : 'Account enabled.');
  });

  if (error) {
    return (
      <Page title="User">
        <p className="form-error" role="alert">{error.message} <code className="code">{error.code}</code></p>
        <Link to="/admin/users">Back to users</Link>
      </Page>
    );
  }
  if (!user) return <Page title="User"><p>Loading…</p></Page>;
  return (
    <Page title="User" heading={user.name} testId="page-user" actions={<Link to="/admin/users">All users</Link>}>
      <p className="lede">
        {user.email} · {ROLE_LABELS[user.role]} · {user.disabled ? 'Disabled' : 'Active'} · created {formatTime(user.created_at)}
      </p>
      <Section title="Account">
        <form className="inline-form" onSubmit={save} aria-label="Edit user" noValidate>
          <FormError error={f.formError ?? f.fieldError('disabled') ?? null} />
          <TextField label="Name" name="name" value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} error={f.fieldError('name')} />
          <SelectField label="Role" name="role" value={v.role} onChange={(e) => setV({ ...v, role: e.target.value as Role })} error={f.fieldError('role')}>
            {ROLES.map((r) => (
              <option key={r} value={r}>{ROLE_LABELS[r]}</option>
            ))}
          </SelectField>
          <button type="submit" className="primary" disabled={f.busy}>Save</button>
          <button type="button" className={user.disabled ? '' : 'danger'} onClick={() => void toggle()} disabled={f.busy}>
            {user.disabled ? 'Enable account' : 'Disable account'}
          </button>
        </form>
      </Section>
      {user.role === 'tasker' ? (
        <Section title="Certifications" testId="user-certifications">
          <UserCertifications user={user} />
        </Section>
      ) : null}
    </Page>
  );
}
