import { useState } from 'react';
import { call, type Organisation } from '../../api/client';
import { FormError, SelectField, TextField, useApiForm } from '../../kit/form';
import { Page, Section, formatTime } from '../../kit/page';
import { DataTable } from '../../kit/table';
import { useToast } from '../../kit/toast';
import { useShortcuts } from '../../kit/shortcuts';

export function Organisations() {
  const toast = useToast();
  const [reload, setReload] = useState(0);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'client' | 'provider'>('client');
  const [editing, setEditing] = useState<Organisation | null>(null);
  const [rename, setRename] = useState('');
  const f = useApiForm(['name', 'kind'] as const);
  const r = useApiForm(['name'] as const);
  useShortcuts([{ keys: 'c', description: 'Create an organisation', run: () => document.getElementById('f-name')?.focus() }]);

  const create = f.submit(async () => {
    await call('post', '/organisations', { body: { name, kind } });
    toast.push('success', 'Organisation created.');
    setName('');
    setReload((n) => n + 1);
  });
  const save = r.submit(async () => {
    if (!editing) return;
    await call('patch', '/organisations/{id}', { path: { id: editing.id }, body: { name: rename } });
    toast.push('success', 'Organisation renamed.');
    setEditing(null);
    setReload((n) => n + 1);
  });

  return (
    <Page title="Organisations" testId="page-organisations">
      <Section title="Create an organisation">
        <form className="inline-form" onSubmit={create} aria-label="Create an organisation" noValidate>
          <FormError error={f.formError} />
          <TextField label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={f.fieldError('name')} required />
          <SelectField label="Kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value as 'client' | 'provider')} error={f.fieldError('kind')}>
            <option value="client">Client</option>
            <option value="provider">Service provider</option>
          </SelectField>
          <button type="submit" className="primary" disabled={f.busy}>Create</button>
        </form>
      </Section>
      {editing ? (
        <Section title="Rename organisation">
          <form className="inline-form" onSubmit={save} aria-label="Rename organisation" noValidate>
            <FormError error={r.formError} />
            <TextField label="New name" name="rename" value={rename} onChange={(e) => setRename(e.target.value)} error={r.fieldError('name')} autoFocus />
            <button type="submit" className="primary" disabled={r.busy}>Save</button>
            <button type="button" onClick={() => setEditing(null)}>Cancel</button>
          </form>
        </Section>
      ) : null}
      <DataTable<Organisation>
        label="Organisations"
        columns={[
          { key: 'name', header: 'Name', render: (o) => o.name },
          { key: 'kind', header: 'Kind', render: (o) => (o.kind === 'provider' ? 'Service provider' : 'Client') },
          { key: 'created', header: 'Created', render: (o) => formatTime(o.created_at) },
          {
            key: 'actions',
            header: '',
            render: (o) => (
              <button type="button" className="link" onClick={() => { setEditing(o); setRename(o.name); }}>
                Rename
              </button>
            ),
          },
        ]}
        load={(q) => call('get', '/organisations', { query: { page: q.page, per_page: q.perPage } })}
        rowKey={(o) => o.id}
        empty="No organisations yet."
        reloadKey={reload}
      />
    </Page>
  );
}
