// The audit trail with filters (actor, action, target, organisation, time) and
// the result of chain verification. Filters live in the page's state, not the
// URL (an id or an action is harmless, but nothing here should invite data
// into addresses).
import { useEffect, useState } from 'react';
import { call, type AuditEvent, type User, type VerifyReport } from '../../api/client';
import { FormError, TextField, useApiForm } from '../../kit/form';
import { Page, Section, formatTime } from '../../kit/page';
import { Progress } from '../../kit/progress';
import { DataTable } from '../../kit/table';
import { useShortcuts } from '../../kit/shortcuts';
import { useOrganisations } from './Users';

interface Filters { actor_id: string; action: string; target_type: string; target_id: string; org_id: string; from: string; to: string }
const NONE: Filters = { actor_id: '', action: '', target_type: '', target_id: '', org_id: '', from: '', to: '' };

function toMs(local: string): number | null {
  if (!local) return null;
  const t = new Date(local).getTime();
  return Number.isNaN(t) ? null : t;
}

export function Audit() {
  const orgs = useOrganisations();
  const [users, setUsers] = useState<User[]>([]);
  const [draft, setDraft] = useState<Filters>(NONE);
  const [applied, setApplied] = useState<Filters>(NONE);
  const [verify, setVerify] = useState<VerifyReport | null>(null);
  const [verifying, setVerifying] = useState(false);
  const v = useApiForm(['verify'] as const);

  useEffect(() => {
    call('get', '/users', { query: { per_page: 500, sort: 'name' } }).then((p) => setUsers(p.items), () => {});
  }, []);
  const runVerify = v.submit(async () => {
    setVerifying(true);
    try {
      setVerify(await call('get', '/audit/verify'));
    } finally {
      setVerifying(false);
    }
  });
  useEffect(() => {
    void runVerify();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useShortcuts([
    { keys: 'f', description: 'Filter by action', run: () => document.getElementById('f-action')?.focus() },
    { keys: 'v', description: 'Verify the chain again', run: () => void runVerify() },
  ]);

  const userName = (id: string | null | undefined) => (id ? users.find((u) => u.id === id)?.name ?? id : 'system');
  const set = (k: keyof Filters) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setDraft({ ...draft, [k]: e.target.value });

  return (
    <Page title="Audit trail" testId="page-audit">
      <Section title="Chain verification" testId="audit-verify">
        <FormError error={v.formError} />
        {verifying ? <Progress label="Verifying the chain" /> : null}
        {verify && !verifying ? (
          <p className={verify.ok ? 'ok' : 'bad'} data-testid="verify-result">
            {verify.ok ? '✔ ' : '✘ '}
            {verify.message} ({verify.events_checked} events checked, head at #{verify.head_seq})
          </p>
        ) : null}
        <button type="button" onClick={() => void runVerify()} disabled={verifying}>Verify again</button>
      </Section>
      <Section title="Events">
        <form
          className="filters"
          role="search"
          aria-label="Filter events"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(draft);
          }}
        >
          <label>
            Actor{' '}
            <select value={draft.actor_id} onChange={set('actor_id')} aria-label="Actor">
              <option value="">Anyone</option>
              {users.map((u) => (
                <option key={u.id} value={u.id}>{u.name}</option>
              ))}
            </select>
          </label>
          <TextField label="Action" name="action" value={draft.action} onChange={set('action')} placeholder="e.g. user.create" />
          <TextField label="Target type" name="target_type" value={draft.target_type} onChange={set('target_type')} placeholder="e.g. user" />
          <TextField label="Target id" name="target_id" value={draft.target_id} onChange={set('target_id')} />
          <label>
            Organisation{' '}
            <select value={draft.org_id} onChange={set('org_id')} aria-label="Organisation">
              <option value="">Any</option>
              {orgs.map((o) => (
                <option key={o.id} value={o.id}>{o.name}</option>
              ))}
            </select>
          </label>
          <TextField label="From" name="from" type="datetime-local" value={draft.from} onChange={set('from')} />
          <TextField label="Until" name="to" type="datetime-local" value={draft.to} onChange={set('to')} />
          <div className="form-actions">
            <button type="submit" className="primary">Apply filters</button>
            <button type="button" onClick={() => { setDraft(NONE); setApplied(NONE); }}>Clear</button>
          </div>
        </form>
        <DataTable<AuditEvent>
          label="Audit events"
          testId="audit-table"
          columns={[
            { key: 'seq', header: '#', render: (e) => e.seq },
            { key: 'at', header: 'Time', render: (e) => formatTime(e.at) },
            { key: 'actor', header: 'Actor', render: (e) => userName(e.actor_id) },
            { key: 'action', header: 'Action', render: (e) => <code>{e.action}</code> },
            { key: 'target', header: 'Target', render: (e) => `${e.target_type} ${e.target_id}` },
            { key: 'details', header: 'Details', render: (e) => <Details value={e.details} /> },
          ]}
          load={(r) =>
            call('get', '/audit', {
              query: {
                actor_id: applied.actor_id || null,
                action: applied.action || null,
                target_type: applied.target_type || null,
                target_id: applied.target_id || null,
                org_id: applied.org_id || null,
                from: toMs(applied.from),
                to: toMs(applied.to),
                page: r.page,
                per_page: r.perPage,
              },
            })
          }
          rowKey={(e) => String(e.seq)}
          empty="No events match these filters."
          reloadKey={JSON.stringify(applied)}
        />
      </Section>
    </Page>
  );
}

function Details({ value }: { value: unknown }) {
  if (value === null || value === undefined || (typeof value === 'object' && Object.keys(value).length === 0)) return <span className="muted">—</span>;
  return <code className="details">{JSON.stringify(value)}</code>;
}
