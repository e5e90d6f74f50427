import { useEffect, useState } from 'react';
import { call, type Organisation, type Role, type User } from '../../api/client';
import { FormError, SelectField, TextField, useApiForm } from '../../kit/form';
import { Page, ROLE_LABELS, Section, formatTime } from '../../kit/page';
import { DataTable } from '../../kit/table';
import { useToast } from '../../kit/toast';
import { useShortcuts } from '../../kit/shortcuts';
import { Link } from '../../router';

const ROLES: Role[] = ['admin', 'pm', 'qa_reviewer', 'tasker', 'client_admin', 'client_member'];

/** All organisations (for pickers). */
export function useOrganisations(): Organisation[] {
  const [orgs, setOrgs] = useState<Organisation[]>([]);
  useEffect(() => {
    call('get', '/organisations', { query: { per_page: 500 } }).then((p) => setOrgs(p.items), () => {});
  }, []);
  return orgs;
}

export function Users() {
  const toast = useToast();
  const orgs = useOrganisations();
  const orgName = (id: string) => orgs.find((o) => o.id === id)?.name ?? '…';
  const [reload, setReload] = useState(0);
  const [filter, setFilter] = useState<{ org_id: string; role: string }>({ org_id: '', role: '' });
  const empty = { org_id: '', email: '', name: '', role: 'tasker' as Role, password: '' };
  const [v, setV] = useState(empty);
  const f = useApiForm(['org_id', 'email', 'name', 'role', 'password'] as const);
  useShortcuts([{ keys: 'c', description: 'Create a user', run: () => document.getElementById('f-name')?.focus() }]);

  useEffect(() => {
    if (!v.org_id && orgs[0]) setV((x) => ({ ...x, org_id: orgs.find((o) => o.kind === 'provider')?.id ?? orgs[0]!.id }));
  }, [orgs, v.org_id]);

  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setV({ ...v, [k]: e.target.value });
  const create = f.submit(async () => {
    const u = await call('post', '/users', { body: v });
    toast.push('success', `User ${u.name} created.`);
    setV({ ...empty, org_id: v.org_id, role: v.role });
    setReload((n) => n + 1);
  });

  return (
    <Page title="Users and roles" testId="page-users">
      <Section title="Create a user">
        <form className="grid-form" onSubmit={create} aria-label="Create a user" noValidate>
          <FormError error={f.formError} />
          <TextField label="Name" name="name" value={v.name} onChange={set('name')} error={f.fieldError('name')} required />
          <TextField label="E-mail address" name="email" type="email" autoComplete="off" value={v.email} onChange={set('email')} error={f.fieldError('email')} required />
          <SelectField label="Organisation" name="org_id" value={v.org_id} onChange={set('org_id')} error={f.fieldError('org_id')}>
            {v.org_id ? null : <option value="">Loading organisations…</option>}
            {orgs.map((o) => (
              <option key={o.id} value={o.id}>{o.name}</option>
            ))}
          </SelectField>
          <SelectField label="Role" name="role" value={v.role} onChange={set('role')} error={f.fieldError('role')}>
            {ROLES.map((r) => (
              <option key={r} value={r}>{ROLE_LABELS[r]}</option>
            ))}
          </SelectField>
          <TextField label="Initial password" name="password" type="password" autoComplete="new-password" value={v.password} onChange={set('password')} error={f.fieldError('password')} hint="12 to 256 characters; hand it over out of band." required />
          <div className="form-actions">
            {/* Enabled once the organisations have loaded and one is chosen. */}
            <button type="submit" className="primary" disabled={f.busy || !v.org_id}>Create user</button>
          </div>
        </form>
      </Section>
      <Section title="Users">
        <div className="filters" role="search" aria-label="Filter users">
          <label>
            Organisation{' '}
            <select value={filter.org_id} onChange={(e) => setFilter({ ...filter, org_id: e.target.value })} aria-label="Filter by organisation">
              <option value="">All</option>
              {orgs.map((o) => (
                <option key={o.id} value={o.id}>{o.name}</option>
              ))}
            </select>
          </label>
          <label>
            Role{' '}
            <select value={filter.role} onChange={(e) => setFilter({ ...filter, role: e.target.value })} aria-label="Filter by role">
              <option value="">All</option>
              {ROLES.map((r) => (
                <option key={r} value={r}>{ROLE_LABELS[r]}</option>
              ))}
            </select>
          </label>
        </div>
        <DataTable<User>
          label="Users"
          testId="users-table"
          columns={[
            { key: 'name', header: 'Name', sort: 'name', render: (u) => <Link to={`/admin/users/${u.id}`}>{u.name}</Link> },
            { key: 'email', header: 'E-mail', sort: 'email', render: (u) => u.email },
            { key: 'role', header: 'Role', sort: 'role', render: (u) => ROLE_LABELS[u.role] },
            { key: 'org', header: 'Organisation', render: (u) => orgName(u.org_id) },
            { key: 'state', header: 'State', render: (u) => (u.disabled ? 'Disabled' : 'Active') },
            { key: 'created', header: 'Created', sort: 'created_at', render: (u) => formatTime(u.created_at) },
          ]}
          load={(r) =>
            call('get', '/users', {
              query: { org_id: filter.org_id || null, role: (filter.role || null) as Role | null, page: r.page, per_page: r.perPage, sort: r.sort, dir: r.dir },
            })
          }
          rowKey={(u) => u.id}
          initialSort={{ sort: 'created_at', dir: 'desc' }}
          empty="No users match."
          reloadKey={`${reload}|${filter.org_id}|${filter.role}`}
        />
      </Section>
    </Page>
  );
}
