// The project page: specification, state and its steps, upload panel and
// files (with rejection reasons), quotes (PM builder; client approve/reject),
// items with gold marking (PM, before start), batches and the history.
import { useState } from 'react';
import { ApiError, call, csrfToken_, type Project, type Quote, type Schemas } from '../api/client';
import { DataTable } from '../kit/table';
import { ErrorLine, Show, asApiError, money, useLoad } from '../kit/load';
import { Empty, Page, Section, formatTime } from '../kit/page';
import { useShortcuts } from '../kit/shortcuts';
import { useToast } from '../kit/toast';
import { Link, navigate, useParams } from '../router';
import { useMe } from '../session';
import { STATE_LABEL } from './projects';
import { MODALITY_LABEL } from './spec';
import { UploadPanel, bytes } from './upload';

type Step = Schemas['Step'];
const EDITABLE = ['draft', 'submitted', 'quoted', 'rejected'];

export function ProjectPage() {
  const { id } = useParams();
  const me = useMe();
  const role = me.user.role;
  const l = useLoad(() => call('get', '/projects/{id}', { path: { id: id! } }), [id]);
  const [tick, setTick] = useState(0);
  const refresh = () => {
    l.reload();
    setTick((t) => t + 1);
  };
  const isClient = role === 'client_admin' || role === 'client_member';
  const isPm = role === 'pm' || role === 'admin';
  useShortcuts([
    ...(isClient && l.data && EDITABLE.includes(l.data.state) ? [{ keys: 'e', description: 'Edit the specification', run: () => navigate(`/projects/${id}/edit`) }] : []),
  ]);
  return (
    <Page title="Project" heading={l.data ? l.data.spec.name : 'Project'} testId="page-project">
      <Show l={l}>
        {(p) => (
          <>
            <p className="lede">
              <span className={`state state-${p.state}`} data-testid="project-state">{STATE_LABEL[p.state]}</span> · {MODALITY_LABEL[p.spec.modality]} · {p.items} item(s) · specification version {p.spec_version}
            </p>
            <StepBar p={p} role={role} onDone={refresh} />
            <SpecSummary p={p} />
            {isClient && EDITABLE.includes(p.state) && ['draft', 'rejected'].includes(p.state) ? (
              <Section title="Upload data" testId="section-upload">
                <UploadPanel projectId={p.id} onChange={refresh} />
              </Section>
            ) : null}
            <Section title="Files" testId="section-files">
              <FilesTable projectId={p.id} reloadKey={tick} />
            </Section>
            <Quotes p={p} role={role} onChange={refresh} />
            {isPm && p.spec.modality === 'text' && !['cancelled', 'delivered'].includes(p.state) ? <LexiconPanel projectId={p.id} onChange={refresh} /> : null}
            {isPm && ['submitted', 'quoted', 'approved'].includes(p.state) ? <GoldItems p={p} /> : null}
            {(isPm || role === 'qa_reviewer') && ['in_progress', 'in_qa', 'delivered'].includes(p.state) ? <Batches projectId={p.id} /> : null}
            <History projectId={p.id} reloadKey={tick} />
          </>
        )}
      </Show>
    </Page>
  );
}

function StepBar({ p, role, onDone }: { p: Project; role: string; onDone: () => void }) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const client = role === 'client_admin' || role === 'client_member';
  const pm = role === 'pm' || role === 'admin';
  const step = async (s: Step, label: string) => {
    setBusy(true);
    try {
      await call('post', '/projects/{id}/steps', { path: { id: p.id }, body: { step: s } });
      toast.push('success', label);
      onDone();
    } catch (e) {
      const a = asApiError(e);
      toast.push('error', `${a.message} (${a.code})`);
    } finally {
      setBusy(false);
    }
  };
  const actions: [Step, string, string][] = [];
  if (client && ['draft', 'rejected'].includes(p.state)) actions.push(['submit', 'Submit for review', 'Specification submitted for review.']);
  if (pm && p.state === 'approved') actions.push(['start', 'Start project', 'Project started: tasks are being routed.']);
  if (pm && p.state === 'in_progress') actions.push(['send_to_qa', 'Send to QA', 'Project sent to QA.']);
  if (pm && p.state === 'in_qa') actions.push(['deliver', 'Deliver', 'Project delivered.']);
  const canCancel = (pm && !['delivered', 'cancelled'].includes(p.state)) || (role === 'client_admin' && ['draft', 'submitted', 'quoted', 'rejected'].includes(p.state));
  return (
    <div className="step-bar" data-testid="step-bar">
      {client && EDITABLE.includes(p.state) ? <Link to={`/projects/${p.id}/edit`}>Edit specification</Link> : null}
      {['in_progress', 'in_qa', 'delivered'].includes(p.state) ? <Link to={`/projects/${p.id}/deliveries`} data-testid="deliveries-link">Delivery and data room</Link> : null}
      {actions.map(([s, label, done]) => (
        <button key={s} type="button" className="primary" disabled={busy} onClick={() => void step(s, done)}>{label}</button>
      ))}
      {client && p.state === 'draft' && p.items === 0 ? <span className="muted">Upload data before submitting: a project needs at least one item.</span> : null}
      {canCancel ? (
        <button type="button" className="danger" disabled={busy} onClick={() => window.confirm('Cancel this project?') && void step('cancel', 'Project cancelled.')}>Cancel project</button>
      ) : null}
    </div>
  );
}

function SpecSummary({ p }: { p: Project }) {
  const s = p.spec;
  const [open, setOpen] = useState(false);
  return (
    <Section title="Specification" testId="section-spec">
      <dl className="facts">
        <dt>Task types</dt><dd>{s.task_types.join(', ')}</dd>
        <dt>Output formats</dt><dd>{s.output_formats.join(', ')}</dd>
        <dt>Deadline</dt><dd>{formatTime(s.deadline)}</dd>
        <dt>Overlap</dt><dd>{s.overlap} tasker(s) per item</dd>
        <dt>Gold rate</dt><dd>{Math.round(s.gold_rate * 100)} %</dd>
        <dt>QA</dt>
        <dd>
          tier 1 {s.qa.tier1 ? 'on' : 'off'} · tier 2 {s.qa.tier2_sampling_pct} % · spot-check {s.qa.tier3_spot_check_pct} % · threshold {s.qa.quality_threshold} · rework rounds {s.qa.max_rework_rounds ?? '—'}
        </dd>
      </dl>
      {s.schema.questions?.length ? (
        <>
          <h3>Questions</h3>
          <ul>
            {s.schema.questions.map((q) => (
              <li key={q.id}>
                <code>{q.id}</code> {q.text} — {q.options.map((o) => `${o.name}${o.hotkey ? ` [${o.hotkey}]` : ''}`).join(' · ')}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {s.schema.entity_types?.length ? <p>Entity types: {s.schema.entity_types.map((e) => e.name).join(', ')}</p> : null}
      {s.schema.relation_types?.length ? <p>Relations: {s.schema.relation_types.map((r) => `${r.name} (${r.from.join('/')} → ${r.to.join('/')})`).join(', ')}</p> : null}
      {s.schema.assertion_values?.length ? <p>Assertion values: {s.schema.assertion_values.join(', ')}</p> : null}
      <button type="button" className="link" onClick={() => setOpen((o) => !o)} aria-expanded={open}>{open ? 'Hide guidelines' : 'Show guidelines'}</button>
      {open ? <pre className="guidelines">{s.guidelines || 'No guidelines written.'}</pre> : null}
    </Section>
  );
}

function FilesTable({ projectId, reloadKey }: { projectId: string; reloadKey: unknown }) {
  return (
    <DataTable<Schemas['FileView']>
      label="Files"
      testId="files-table"
      reloadKey={reloadKey}
      perPage={20}
      columns={[
        { key: 'name', header: 'File', render: (f) => f.name },
        { key: 'size', header: 'Size', render: (f) => bytes(f.size) },
        { key: 'type', header: 'Type', render: (f) => f.media_type },
        {
          key: 'status',
          header: 'Status',
          render: (f) => (f.status === 'accepted' ? <span className="ok">Accepted</span> : <span className="bad">Rejected</span>),
        },
        { key: 'reason', header: 'Reason', render: (f) => f.reason ?? '' },
        { key: 'items', header: 'Items', render: (f) => f.items },
      ]}
      load={(r) => call('get', '/projects/{id}/files', { path: { id: projectId }, query: { page: r.page, per_page: r.perPage } })}
      rowKey={(f) => f.id}
      empty="No files uploaded yet."
    />
  );
}

function Quotes({ p, role, onChange }: { p: Project; role: string; onChange: () => void }) {
  const l = useLoad(() => call('get', '/projects/{id}/quotes', { path: { id: p.id } }), [p.id, p.state, p.spec_version]);
  const pm = role === 'pm' || role === 'admin';
  return (
    <Section title="Quotes" testId="section-quotes">
      {pm && ['submitted', 'quoted'].includes(p.state) ? <QuoteBuilder p={p} onIssued={onChange} /> : null}
      <Show l={l}>
        {(qs) =>
          qs.length === 0 ? (
            <Empty>No quote issued yet.</Empty>
          ) : (
            <>
              {qs.map((q) => (
                <QuoteCard key={q.id} q={q} canDecide={role === 'client_admin' && q.status === 'proposed' && p.state === 'quoted'} onDecided={onChange} />
              ))}
            </>
          )
        }
      </Show>
    </Section>
  );
}

function Lines({ pricing }: { pricing: Schemas['Pricing'] }) {
  return (
    <table className="lines" aria-label="Quote lines">
      <thead>
        <tr><th scope="col">Line</th><th scope="col">How it was found</th><th scope="col" className="num">Amount</th></tr>
      </thead>
      <tbody>
        {pricing.lines.map((li, i) => (
          <tr key={i} className={`line-${li.kind}`}>
            <td>{li.label}</td>
            <td>{li.detail}</td>
            <td className="num">{money(li.amount_cents, pricing.currency)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr><th scope="row" colSpan={2}>Total ({pricing.units} unit(s))</th><td className="num" data-testid="quote-total">{money(pricing.total_cents, pricing.currency)}</td></tr>
      </tfoot>
    </table>
  );
}

function QuoteCard({ q, canDecide, onDecided }: { q: Quote; canDecide: boolean; onDecided: () => void }) {
  const [comment, setComment] = useState('');
  const [err, setErr] = useState<ReturnType<typeof asApiError> | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const decide = async (decision: 'approve' | 'reject') => {
    setErr(null);
    setBusy(true);
    try {
      await call('post', '/projects/{id}/quotes/{quote_id}/decision', { path: { id: q.project_id, quote_id: q.id }, body: { decision, comment: comment || null } });
      toast.push('success', decision === 'approve' ? 'Quote approved.' : 'Quote rejected.');
      onDecided();
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <article className={`quote quote-${q.status}`} data-testid="quote" aria-label={`Quote of ${formatTime(q.created_at)}`}>
      <h3>
        Quote of {formatTime(q.created_at)} · <span data-testid="quote-status">{QUOTE_STATUS[q.status] ?? q.status}</span>
      </h3>
      <Lines pricing={q.pricing} />
      <p className="muted">
        {q.pricing.timeline_days !== null && q.pricing.timeline_days !== undefined ? `${q.pricing.timeline_days} working day(s) from start` : 'No certified taskers yet: no timeline'}
        {q.pricing.proposed_delivery ? ` · proposed delivery ${formatTime(q.pricing.proposed_delivery)}` : ''}
      </p>
      {q.pricing.warnings.map((w, i) => <p key={i} className="notice">{w}</p>)}
      {q.client_comment ? <p>Client's comment: {q.client_comment}</p> : null}
      {canDecide ? (
        <div className="decision">
          <ErrorLine error={err} />
          <div className="field">
            <label htmlFor={`c-${q.id}`}>Comment (required to reject)</label>
            <textarea id={`c-${q.id}`} rows={2} value={comment} onChange={(e) => setComment(e.target.value)} />
          </div>
          <div className="form-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void decide('approve')}>Approve quote</button>
            <button type="button" className="danger" disabled={busy} onClick={() => void decide('reject')}>Reject quote</button>
          </div>
        </div>
      ) : null}
    </article>
  );
}
const QUOTE_STATUS: Record<string, string> = { proposed: 'Awaiting the client', approved: 'Approved', rejected: 'Rejected', superseded: 'Superseded' };

function QuoteBuilder({ p, onIssued }: { p: Project; onIssued: () => void }) {
  const preview = useLoad(() => call('get', '/projects/{id}/quote-preview', { path: { id: p.id } }), [p.id, p.spec_version]);
  const [adj, setAdj] = useState<{ amount: string; reason: string }[]>([]);
  const [err, setErr] = useState<ReturnType<typeof asApiError> | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const issue = async () => {
    setErr(null);
    setBusy(true);
    try {
      const adjustments = adj.map((a) => ({ amount_cents: Math.round(Number(a.amount) * 100), reason: a.reason }));
      await call('post', '/projects/{id}/quotes', { path: { id: p.id }, body: { adjustments } });
      toast.push('success', 'Quote issued to the client.');
      setAdj([]);
      onIssued();
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const extra = adj.reduce((s, a) => s + Math.round((Number(a.amount) || 0) * 100), 0);
  return (
    <div className="quote-builder" data-testid="quote-builder">
      <h3>Quote builder</h3>
      <Show l={preview}>
        {(pr) => (
          <>
            <Lines pricing={pr} />
            {pr.warnings.map((w, i) => <p key={i} className="notice">{w}</p>)}
            <h4>Adjustments</h4>
            {adj.map((a, i) => (
              <div key={i} className="row" data-testid={`adjustment-${i}`}>
                <label className="mini">
                  <span>Adjustment {i + 1} amount ({pr.currency}, negative for a discount)</span>
                  <input aria-label={`Adjustment ${i + 1} amount`} type="number" step="0.01" value={a.amount} aria-invalid={adjBad(err?.field, 'amount', i, !a.amount || Number.isNaN(Number(a.amount)))} onChange={(e) => setAdj(adj.map((x, j) => (j === i ? { ...x, amount: e.target.value } : x)))} />
                </label>
                <label className="mini wide">
                  <span>Adjustment {i + 1} reason</span>
                  <input aria-label={`Adjustment ${i + 1} reason`} value={a.reason} aria-invalid={adjBad(err?.field, 'reason', i, !a.reason.trim() || a.reason.length > 500)} onChange={(e) => setAdj(adj.map((x, j) => (j === i ? { ...x, reason: e.target.value } : x)))} />
                </label>
                <button type="button" className="link" onClick={() => setAdj(adj.filter((_, j) => j !== i))}>Remove adjustment {i + 1}</button>
              </div>
            ))}
            <button type="button" onClick={() => setAdj([...adj, { amount: '', reason: '' }])}>Add an adjustment</button>
            <p>
              Total with adjustments: <strong data-testid="builder-total">{money(pr.total_cents + extra, pr.currency)}</strong>
            </p>
            <ErrorLine error={err} />
            <button type="button" className="primary" disabled={busy} onClick={() => void issue()}>Issue quote</button>
          </>
        )}
      </Show>
    </div>
  );
}

/** Whether an adjustment's input is the one an error names (`adjustments[i].x`, or `adjustments.x` for the suspect rows). */
function adjBad(field: string | undefined, part: 'amount' | 'reason', i: number, suspect: boolean): true | undefined {
  if (!field?.startsWith('adjustments')) return undefined;
  if (field.startsWith(`adjustments[${i}]`)) return field.includes(part) || undefined;
  return (field === `adjustments.${part}` || (part === 'amount' && field === 'adjustments.amount_cents')) && suspect ? true : undefined;
}

/** PM: the items, with a reference answer marked on some as gold tasks (before the project starts). */
function GoldItems({ p }: { p: Project }) {
  const [open, setOpen] = useState<string | null>(null);
  const [marked, setMarked] = useState<Record<string, boolean>>({});
  const questions = p.spec.schema.questions ?? [];
  return (
    <Section title="Items and gold tasks" testId="section-items">
      <p className="muted">Mark an item as a gold task by choosing its reference answer. Gold tasks look like any other task to taskers and score their accuracy.</p>
      {questions.length === 0 ? <p className="notice">Gold answers need classification questions in the schema.</p> : null}
      <DataTable<Schemas['ItemView']>
        label="Items"
        testId="items-table"
        perPage={20}
        columns={[
          { key: 'seq', header: '#', render: (i) => i.seq + 1 },
          { key: 'kind', header: 'Kind', render: (i) => i.kind },
          {
            key: 'meta',
            header: 'Details',
            render: (i) => {
              const burned = Number((i.meta as { burned_in_instances?: number } | null)?.burned_in_instances ?? 0);
              return (
                <>
                  {burned > 0 ? (
                    <span className="notice" data-testid="burned-in-flag" title="Burned In Annotation is YES, or the modality commonly burns in text: check the pixels for identifying text before the work starts.">
                      ⚠ {burned} instance(s) may show burned-in text{' '}
                    </span>
                  ) : null}
                  {metaText(i.meta)}
                </>
              );
            },
          },
          {
            key: 'gold',
            header: 'Gold',
            render: (i) =>
              open === i.id ? (
                <GoldForm itemId={i.id} questions={questions} onDone={() => { setMarked({ ...marked, [i.id]: true }); setOpen(null); }} onCancel={() => setOpen(null)} />
              ) : (
                <>
                  {marked[i.id] ? <span className="ok">Gold ✔ </span> : null}
                  {questions.length ? <button type="button" onClick={() => setOpen(i.id)}>{marked[i.id] ? 'Change gold answer' : 'Mark as gold'}</button> : null}
                </>
              ),
          },
        ]}
        load={(r) => call('get', '/projects/{id}/items', { path: { id: p.id }, query: { page: r.page, per_page: r.perPage } })}
        rowKey={(i) => i.id}
        empty="No items yet."
      />
    </Section>
  );
}

export function metaText(meta: unknown): string {
  if (!meta || typeof meta !== 'object') return '';
  return Object.entries(meta as Record<string, unknown>)
    .filter(([, v]) => typeof v !== 'object')
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(' · ');
}

function GoldForm({ itemId, questions, onDone, onCancel }: { itemId: string; questions: Schemas['Question'][]; onDone: () => void; onCancel: () => void }) {
  const [ans, setAns] = useState<Record<string, string[]>>({});
  const [err, setErr] = useState<ReturnType<typeof asApiError> | null>(null);
  const toast = useToast();
  const save = async () => {
    setErr(null);
    try {
      await call('put', '/items/{id}/gold', { path: { id: itemId }, body: { answer: ans } });
      toast.push('success', 'Gold answer saved.');
      onDone();
    } catch (e) {
      setErr(asApiError(e));
    }
  };
  return (
    <div className="gold-form" role="group" aria-label="Gold answer">
      {questions.map((q) => (
        <fieldset key={q.id}>
          <legend>{q.text}</legend>
          {q.options.map((o) => (
            <label key={o.id}>
              <input
                type={q.kind === 'multiple' ? 'checkbox' : 'radio'}
                name={`gold-${itemId}-${q.id}`}
                checked={(ans[q.id] ?? []).includes(o.id)}
                onChange={(e) => {
                  const cur = ans[q.id] ?? [];
                  const next = q.kind === 'multiple' ? (e.target.checked ? [...cur, o.id] : cur.filter((x) => x !== o.id)) : [o.id];
                  setAns({ ...ans, [q.id]: next });
                }}
              />
              {o.name}
            </label>
          ))}
        </fieldset>
      ))}
      <ErrorLine error={err} />
      <button type="button" className="primary" onClick={() => void save()}>Save gold answer</button>
      <button type="button" className="link" onClick={onCancel}>Cancel</button>
    </div>
  );
}

export function Batches({ projectId }: { projectId: string }) {
  const l = useLoad(() => call('get', '/projects/{id}/batches', { path: { id: projectId }, query: {} }), [projectId]);
  return (
    <Section title="Batches" testId="section-batches">
      <Show l={l}>
        {(bs) =>
          bs.length === 0 ? (
            <Empty>No batches yet.</Empty>
          ) : (
            <table aria-label="Batches">
              <thead>
                <tr><th scope="col">Batch</th><th scope="col">State</th><th scope="col">Items</th><th scope="col">Accepted</th><th scope="col">Quality</th></tr>
              </thead>
              <tbody>
                {bs.map((b) => (
                  <tr key={b.id}>
                    <td><Link to={`/batches/${b.id}`}>Batch {b.seq}</Link></td>
                    <td>{BATCH_STATE[b.state] ?? b.state}</td>
                    <td>{b.items}</td>
                    <td>{b.accepted} / {b.annotations}</td>
                    <td>{b.meets_threshold ? <span className="ok">meets threshold</span> : <span className="bad">under threshold</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </Section>
  );
}
export const BATCH_STATE: Record<string, string> = { annotating: 'Annotating', spot_check: 'Spot-check', awaiting_approval: 'Awaiting approval', approved: 'Approved' };

function History({ projectId, reloadKey }: { projectId: string; reloadKey: unknown }) {
  const l = useLoad(() => call('get', '/projects/{id}/history', { path: { id: projectId } }), [projectId, reloadKey]);
  return (
    <Section title="History" testId="section-history">
      <Show l={l}>
        {(evs) =>
          evs.length === 0 ? (
            <Empty>Nothing has happened yet.</Empty>
          ) : (
            <ol className="timeline">
              {evs.map((e) => (
                <li key={e.seq}>
                  <time>{formatTime(e.at)}</time> <strong>{ACTION_LABEL[e.action] ?? e.action}</strong> <code className="code">{e.action}</code> <span className="muted">{historyDetail(e.details)}</span>
                </li>
              ))}
            </ol>
          )
        }
      </Show>
    </Section>
  );
}

const ACTION_LABEL: Record<string, string> = {
  'project.create': 'Project created',
  'project.spec_update': 'Specification changed',
  'project.submit': 'Submitted for review',
  'project.quote': 'Quote issued',
  'project.approve': 'Quote approved',
  'project.reject': 'Quote rejected',
  'project.start': 'Project started',
  'project.send_to_qa': 'Sent to QA',
  'project.deliver': 'Delivered',
  'project.cancel': 'Cancelled',
};

function historyDetail(d: unknown): string {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d as Record<string, unknown>)
    .filter(([k, v]) => ['from', 'to', 'state', 'step', 'spec_version', 'total_cents', 'decision', 'kind'].includes(k) && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(' · ');
}

export function ProjectList() {
  const me = useMe();
  const isClient = me.user.role === 'client_admin' || me.user.role === 'client_member';
  return (
    <Page title="Projects" testId="page-projects" actions={isClient ? <Link to="/projects/new" className="button primary">New project</Link> : null}>
      <ProjectLinkTable />
    </Page>
  );
}

export function ProjectLinkTable({ state, label = 'Projects', empty = 'No projects yet.' }: { state?: Schemas['ProjectState']; label?: string; empty?: string }) {
  return (
    <DataTable<Schemas['ProjectSummary']>
      label={label}
      testId={`projects-${state ?? 'all'}`}
      perPage={20}
      columns={[
        { key: 'name', header: 'Project', render: (p) => <Link to={`/projects/${p.id}`}>{p.name}</Link> },
        { key: 'modality', header: 'Data', render: (p) => MODALITY_LABEL[p.modality] },
        { key: 'state', header: 'State', render: (p) => <span className={`state state-${p.state}`}>{STATE_LABEL[p.state]}</span> },
        { key: 'deadline', header: 'Deadline', render: (p) => formatTime(p.deadline) },
        { key: 'updated', header: 'Last change', render: (p) => formatTime(p.updated_at) },
      ]}
      load={(r) => call('get', '/projects', { query: { state: state ?? null, page: r.page, per_page: r.perPage } })}
      rowKey={(p) => p.id}
      empty={empty}
    />
  );
}

/** A text project's lexicon for the dictionary matcher (PMs): one
 * `term<TAB>label[<TAB>system:code[<TAB>display]]` per line, checked by the server
 * against the schema and the installed code systems (the error names the line). */
function LexiconPanel({ projectId, onChange }: { projectId: string; onChange: () => void }) {
  const l = useLoad(() => call('get', '/projects/{id}/lexicon', { path: { id: projectId } }), [projectId]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const upload = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      // The file itself is the body (not JSON): the typed client sends JSON only.
      const res = await fetch(`/api/v1/projects/${encodeURIComponent(projectId)}/lexicon`, {
        method: 'PUT',
        headers: { 'Content-Type': 'text/tab-separated-values', Accept: 'application/json', ...(csrfToken_() ? { 'X-CSRF-Token': csrfToken_()! } : {}) },
        body: file,
        credentials: 'same-origin',
      });
      const b = (await res.json()) as Schemas['Lexicon'] & Schemas['ErrorBody'];
      if (!res.ok) throw new ApiError(res.status, b.code, b.message, (b.details ?? undefined) as Record<string, unknown> | undefined);
      toast.push('success', `Lexicon set: ${b.terms} terms.`);
      l.reload();
      onChange();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setError(null);
    try {
      await call('delete', '/projects/{id}/lexicon', { path: { id: projectId } });
      l.reload();
      onChange();
    } catch (e) {
      setError(asApiError(e));
    }
  };
  return (
    <Section title="Lexicon" testId="section-lexicon">
      <p className="muted">Terms the pre-annotation matches beside the code systems: one <code>term⇥label[⇥system:code[⇥display]]</code> per line (tab-separated, UTF-8, <code>#</code> comments). Labels must be entity types of the schema.</p>
      <Show l={l}>
        {(s) =>
          s.lexicon ? (
            <p data-testid="lexicon-info">
              {s.lexicon.terms} terms ({Object.entries(s.lexicon.labels).map(([k, n]) => `${k}: ${n}`).join(', ')}) · set {formatTime(s.lexicon.created_at)} ·{' '}
              <a href={`/api/v1/projects/${encodeURIComponent(projectId)}/lexicon/content`} download="lexicon.tsv">download</a>{' '}
              <button type="button" className="link danger" onClick={() => void remove()}>remove</button>
            </p>
          ) : (
            <p className="muted" data-testid="lexicon-info">No lexicon.</p>
          )
        }
      </Show>
      <label className="field">
        <span>{busy ? 'Checking…' : 'Set the lexicon (replaces the current one)'}</span>
        <input type="file" accept=".tsv,.txt,text/tab-separated-values,text/plain" data-testid="lexicon-file" disabled={busy} onChange={(e) => { const f = e.target.files?.[0]; e.target.value = ''; if (f) void upload(f); }} />
      </label>
      <ErrorLine error={error} />
    </Section>
  );
}
