// Specialist tracks and taskers' certifications: grant (with expiry), suspend
// (with a reason), reinstate, re-date.
import { useEffect, useState } from 'react';
import { call, type Schemas, type User } from '../../api/client';
import { FormError, SelectField, TextField, useApiForm } from '../../kit/form';
import { Empty, Page, Section, formatTime } from '../../kit/page';
import { DataTable } from '../../kit/table';
import { useToast } from '../../kit/toast';
import { useShortcuts } from '../../kit/shortcuts';
import { Link } from '../../router';

export type Track = Schemas['Track'];
export type Certification = Schemas['Certification'];
type Status = Schemas['CertificationStatus'];

const STATUS_LABEL: Record<Status, string> = { active: 'Active', suspended: 'Suspended', expired: 'Expired' };
const DAY = 24 * 3600 * 1000;

function dateInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
/** End of the chosen local day. */
function endOfDay(date: string): number {
  return new Date(`${date}T23:59:59`).getTime();
}

export function useTracks(includeInactive = false): [Track[], () => void] {
  const [tracks, setTracks] = useState<Track[]>([]);
  const [n, setN] = useState(0);
  useEffect(() => {
    call('get', '/tracks', { query: { include_inactive: includeInactive } }).then(setTracks, () => {});
  }, [includeInactive, n]);
  return [tracks, () => setN((x) => x + 1)];
}

function useTaskers(): User[] {
  const [users, setUsers] = useState<User[]>([]);
  useEffect(() => {
    call('get', '/users', { query: { role: 'tasker', per_page: 500, sort: 'name' } }).then((p) => setUsers(p.items), () => {});
  }, []);
  return users;
}

export function Tracks() {
  const toast = useToast();
  const [tracks, reload] = useTracks(true);
  const [v, setV] = useState({ slug: '', name: '', description: '', accuracy_threshold: '0.8' });
  const f = useApiForm(['slug', 'name', 'description', 'accuracy_threshold'] as const);
  const row = useApiForm(['row'] as const);
  useShortcuts([{ keys: 'c', description: 'Create a track', run: () => document.getElementById('f-slug')?.focus() }]);
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });
  const create = f.submit(async () => {
    await call('post', '/tracks', {
      body: { slug: v.slug, name: v.name, description: v.description, accuracy_threshold: v.accuracy_threshold === '' ? null : Number(v.accuracy_threshold) },
    });
    toast.push('success', 'Track created.');
    setV({ slug: '', name: '', description: '', accuracy_threshold: '0.8' });
    reload();
  });
  const setActive = (t: Track, active: boolean) =>
    row.submit(async () => {
      await call('patch', '/tracks/{id}', { path: { id: t.id }, body: { active } });
      toast.push('success', active ? 'Track reactivated.' : 'Track retired.');
      reload();
    })();

  return (
    <Page title="Specialist tracks" testId="page-tracks">
      <Section title="Create a track">
        <form className="grid-form" onSubmit={create} aria-label="Create a track" noValidate>
          <FormError error={f.formError} />
          <TextField label="Slug" name="slug" value={v.slug} onChange={set('slug')} error={f.fieldError('slug')} hint="Lower-case letters, digits and hyphens." required />
          <TextField label="Name" name="name" value={v.name} onChange={set('name')} error={f.fieldError('name')} required />
          <TextField label="Description" name="description" value={v.description} onChange={set('description')} error={f.fieldError('description')} />
          <TextField label="Accuracy threshold (0–1)" name="accuracy_threshold" type="number" step="0.01" min="0" max="1" value={v.accuracy_threshold} onChange={set('accuracy_threshold')} error={f.fieldError('accuracy_threshold')} />
          <div className="form-actions"><button type="submit" className="primary" disabled={f.busy}>Create track</button></div>
        </form>
      </Section>
      <Section title="Tracks">
        <FormError error={row.formError} />
        {tracks.length === 0 ? (
          <Empty>No specialist tracks yet.</Empty>
        ) : (
          <table aria-label="Tracks">
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Slug</th><th scope="col">Accuracy threshold</th><th scope="col">State</th><th scope="col">Created</th><th scope="col"></th></tr>
            </thead>
            <tbody>
              {tracks.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}{t.description ? <div className="hint">{t.description}</div> : null}</td>
                  <td><code>{t.slug}</code></td>
                  <td>{Math.round(t.accuracy_threshold * 100)} %</td>
                  <td>{t.active ? 'Active' : 'Retired'}</td>
                  <td>{formatTime(t.created_at)}</td>
                  <td>
                    <button type="button" className={t.active ? 'danger' : ''} onClick={() => void setActive(t, !t.active)} disabled={row.busy}>
                      {t.active ? 'Retire' : 'Reactivate'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </Page>
  );
}

/** The grant form; `user` fixed (user page) or chosen among taskers. */
function GrantForm({ user, onGranted }: { user?: User; onGranted: () => void }) {
  const toast = useToast();
  const [tracks] = useTracks();
  const taskers = useTaskers();
  const [v, setV] = useState({ user_id: user?.id ?? '', track_id: '', expires_at: dateInput(Date.now() + 365 * DAY), score: '' });
  const f = useApiForm(['user_id', 'track_id', 'expires_at', 'score'] as const);
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setV({ ...v, [k]: e.target.value });
  const grant = f.submit(async () => {
    await call('post', '/certifications', {
      body: { user_id: v.user_id, track_id: v.track_id, expires_at: v.expires_at ? endOfDay(v.expires_at) : 0, score: v.score === '' ? null : Number(v.score) },
    });
    toast.push('success', 'Certification granted.');
    onGranted();
  });
  return (
    <form className="inline-form" onSubmit={grant} aria-label="Grant a certification" noValidate>
      <FormError error={f.formError} />
      {user ? null : (
        <SelectField label="Tasker" name="user_id" value={v.user_id} onChange={set('user_id')} error={f.fieldError('user_id')}>
          <option value="">Choose a tasker…</option>
          {taskers.map((u) => (
            <option key={u.id} value={u.id}>{u.name}</option>
          ))}
        </SelectField>
      )}
      <SelectField label="Track" name="track_id" value={v.track_id} onChange={set('track_id')} error={f.fieldError('track_id')}>
        <option value="">Choose a track…</option>
        {tracks.map((t) => (
          <option key={t.id} value={t.id}>{t.name}</option>
        ))}
      </SelectField>
      <TextField label="Expires" name="expires_at" type="date" value={v.expires_at} onChange={set('expires_at')} error={f.fieldError('expires_at')} />
      <TextField label="Score (0–1, optional)" name="score" type="number" step="0.01" min="0" max="1" value={v.score} onChange={set('score')} error={f.fieldError('score')} />
      <button type="submit" className="primary" disabled={f.busy}>Grant</button>
    </form>
  );
}

/** Suspend (with a reason), reinstate, re-date one certification. */
function CertActions({ c, onChanged }: { c: Certification; onChanged: () => void }) {
  const toast = useToast();
  const [mode, setMode] = useState<'idle' | 'suspend' | 'redate'>('idle');
  const [reason, setReason] = useState('');
  const [date, setDate] = useState(dateInput(c.expires_at));
  const f = useApiForm(['reason', 'expires_at', 'status'] as const);
  const patch = (body: Schemas['CertificationPatchRequest'], msg: string) =>
    f.submit(async () => {
      await call('patch', '/certifications/{id}', { path: { id: c.id }, body });
      toast.push('success', msg);
      setMode('idle');
      onChanged();
    });
  if (mode === 'suspend') {
    return (
      <form className="inline-form" aria-label="Suspend certification" onSubmit={patch({ status: 'suspended', reason }, 'Certification suspended.')} noValidate>
        <TextField label="Reason" name="reason" value={reason} onChange={(e) => setReason(e.target.value)} error={f.fieldError('reason')} autoFocus />
        <FormError error={f.formError ?? f.fieldError('status') ?? null} />
        <button type="submit" className="danger" disabled={f.busy}>Suspend</button>
        <button type="button" onClick={() => setMode('idle')}>Cancel</button>
      </form>
    );
  }
  if (mode === 'redate') {
    return (
      <form className="inline-form" aria-label="Change expiry" onSubmit={patch({ expires_at: endOfDay(date) }, 'Expiry changed.')} noValidate>
        <TextField label="New expiry" name="expires_at" type="date" value={date} onChange={(e) => setDate(e.target.value)} error={f.fieldError('expires_at')} autoFocus />
        <FormError error={f.formError} />
        <button type="submit" className="primary" disabled={f.busy}>Save</button>
        <button type="button" onClick={() => setMode('idle')}>Cancel</button>
      </form>
    );
  }
  return (
    <div className="form-actions">
      <FormError error={f.formError} />
      {c.status === 'suspended' ? (
        <button type="button" onClick={() => void patch({ status: 'active', reason: 'reinstated' }, 'Certification reinstated.')()} disabled={f.busy}>Reinstate</button>
      ) : (
        <button type="button" className="danger" onClick={() => setMode('suspend')}>Suspend…</button>
      )}
      <button type="button" onClick={() => setMode('redate')}>Change expiry…</button>
    </div>
  );
}

function CertTable({ userId, trackId, status, reloadKey, onChanged, showUser }: { userId?: string; trackId?: string; status?: string; reloadKey: unknown; onChanged: () => void; showUser: boolean }) {
  return (
    <DataTable<Certification>
      label="Certifications"
      testId="certifications-table"
      columns={[
        ...(showUser ? [{ key: 'user', header: 'Tasker', render: (c: Certification) => <Link to={`/admin/users/${c.user_id}`}>{c.user_name}</Link> }] : []),
        { key: 'track', header: 'Track', render: (c) => c.track_name },
        { key: 'status', header: 'Status', render: (c) => <span className={`status-${c.status}`}>{STATUS_LABEL[c.status]}</span> },
        { key: 'issued', header: 'Issued', render: (c) => formatTime(c.issued_at) },
        { key: 'expires', header: 'Expires', render: (c) => formatTime(c.expires_at) },
        { key: 'score', header: 'Score', render: (c) => (c.score === null || c.score === undefined ? '—' : `${Math.round(c.score * 100)} %`) },
        { key: 'reason', header: 'Reason', render: (c) => c.reason ?? '—' },
        { key: 'actions', header: '', render: (c) => <CertActions c={c} onChanged={onChanged} /> },
      ]}
      load={(r) =>
        call('get', '/certifications', {
          query: { user_id: userId || null, track_id: trackId || null, status: (status || null) as Status | null, page: r.page, per_page: r.perPage },
        })
      }
      rowKey={(c) => c.id}
      empty="No certifications match."
      reloadKey={`${reloadKey}|${userId}|${trackId}|${status}`}
    />
  );
}

export function Certifications() {
  const [tracks] = useTracks(true);
  const taskers = useTaskers();
  const [reload, setReload] = useState(0);
  const [filter, setFilter] = useState({ user_id: '', track_id: '', status: '' });
  useShortcuts([{ keys: 'c', description: 'Grant a certification', run: () => document.getElementById('f-user_id')?.focus() }]);
  return (
    <Page title="Certifications" testId="page-certifications">
      <Section title="Grant a certification">
        <GrantForm onGranted={() => setReload((n) => n + 1)} />
      </Section>
      <Section title="Certifications">
        <div className="filters" role="search" aria-label="Filter certifications">
          <label>
            Tasker{' '}
            <select aria-label="Filter by tasker" value={filter.user_id} onChange={(e) => setFilter({ ...filter, user_id: e.target.value })}>
              <option value="">All</option>
              {taskers.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </label>
          <label>
            Track{' '}
            <select aria-label="Filter by track" value={filter.track_id} onChange={(e) => setFilter({ ...filter, track_id: e.target.value })}>
              <option value="">All</option>
              {tracks.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
            </select>
          </label>
          <label>
            Status{' '}
            <select aria-label="Filter by status" value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.target.value })}>
              <option value="">All</option>
              <option value="active">Active</option>
              <option value="suspended">Suspended</option>
              <option value="expired">Expired</option>
            </select>
          </label>
        </div>
        <CertTable userId={filter.user_id} trackId={filter.track_id} status={filter.status} reloadKey={reload} onChanged={() => setReload((n) => n + 1)} showUser />
      </Section>
    </Page>
  );
}

/** On a tasker's user page. */
export function UserCertifications({ user }: { user: User }) {
  const [reload, setReload] = useState(0);
  return (
    <>
      <GrantForm user={user} onGranted={() => setReload((n) => n + 1)} />
      <CertTable userId={user.id} reloadKey={reload} onChanged={() => setReload((n) => n + 1)} showUser={false} />
    </>
  );
}
