// QA and PM pages: batch page (agreement per question, gold accuracy, rework
// rate, spot-check sample, approve or return), batches awaiting approval,
// tracks and certification health, per-tasker accuracy, and the rate card.
import { useEffect, useState } from 'react';
import { ApiError, call, type BatchView, type Schemas } from '../api/client';
import { ErrorLine, Show, asApiError, money, pct, useLoad } from '../kit/load';
import { Empty, Page, Section, formatTime } from '../kit/page';
import { useShortcuts } from '../kit/shortcuts';
import { useToast } from '../kit/toast';
import { Link, useParams } from '../router';
import { useMe } from '../session';
import { BATCH_STATE } from './project';

export function BatchPage() {
  const { id } = useParams();
  const me = useMe();
  const l = useLoad(() => call('get', '/batches/{id}', { path: { id: id! } }), [id]);
  const project = useLoad(() => (l.data ? call('get', '/projects/{id}', { path: { id: l.data.project_id } }) : Promise.resolve(null)), [l.data?.project_id]);
  return (
    <Page title="Batch" heading={l.data ? `Batch ${l.data.seq}` : 'Batch'} testId="page-batch">
      <Show l={l}>
        {(b) => (
          <>
            <p className="lede">
              {project.data ? <Link to={`/projects/${b.project_id}`}>{project.data.spec.name}</Link> : null} ·{' '}
              <span data-testid="batch-state">{BATCH_STATE[b.state] ?? b.state}</span>
            </p>
            <BatchStats b={b} questions={project.data?.spec.schema.questions ?? []} />
            {me.user.role === 'qa_reviewer' || me.user.role === 'admin' ? <BatchDecision b={b} questions={project.data?.spec.schema.questions ?? []} onDecided={(nb) => l.set(nb)} /> : null}
          </>
        )}
      </Show>
    </Page>
  );
}

function BatchStats({ b, questions }: { b: BatchView; questions: Schemas['Question'][] }) {
  const qText = (id: string) => questions.find((q) => q.id === id)?.text ?? id;
  return (
    <>
      <div className="grid">
        <Section title="Progress" testId="batch-progress">
          <p className="big">{b.accepted} / {b.annotations}</p>
          <p className="muted">annotations accepted · {b.items} item(s)</p>
        </Section>
        <Section title="Gold accuracy" testId="batch-gold">
          <p className="big">{pct(b.gold_accuracy)}</p>
          <p className="muted">{b.gold_accuracy === null || b.gold_accuracy === undefined ? 'No gold task scored yet' : 'mean of this batch’s taskers on gold tasks'}</p>
        </Section>
        <Section title="Rework rate" testId="batch-rework">
          <p className="big">{pct(b.rework_rate)}</p>
          <p className="muted">annotations reworked at least once</p>
        </Section>
        <Section title="Quality threshold" testId="batch-threshold">
          <p className="big">{b.quality_threshold}</p>
          <p className={b.meets_threshold ? 'ok' : 'bad'} data-testid="meets-threshold">{b.meets_threshold ? 'Met' : 'Not met'}</p>
        </Section>
      </div>
      <Section title="Agreement per question" testId="batch-agreement">
        {b.agreement.length === 0 ? (
          <Empty>No classification questions.</Empty>
        ) : (
          <table aria-label="Agreement per question">
            <thead>
              <tr><th scope="col">Question</th><th scope="col">Krippendorff’s α</th><th scope="col">Percent agreement</th><th scope="col">Gate value</th><th scope="col">Against threshold</th></tr>
            </thead>
            <tbody>
              {b.agreement.map((a) => (
                <tr key={a.question_id}>
                  <td>{qText(a.question_id)}</td>
                  <td>{a.alpha === null || a.alpha === undefined ? <span className="muted" title={a.alpha_undefined_reason ?? ''}>undefined{a.alpha_undefined_reason ? ` (${a.alpha_undefined_reason})` : ''}</span> : a.alpha.toFixed(3)}</td>
                  <td>{pct(a.percent_agreement, 1)}</td>
                  <td>{a.gate_value === null || a.gate_value === undefined ? '—' : a.gate_value.toFixed(3)}</td>
                  <td>{a.gate_value === null || a.gate_value === undefined ? '—' : a.gate_value >= b.quality_threshold ? <span className="ok">meets</span> : <span className="bad">below</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Spot-check sample" testId="batch-spot-check">
        {b.spot_check_items.length === 0 ? (
          <Empty>The spot-check sample is drawn when every item of the batch is accepted.</Empty>
        ) : (
          <p>
            {b.spot_check_items.length} of {b.items} item(s) drawn for the PM’s spot-check
            {b.spot_check_seed !== null && b.spot_check_seed !== undefined ? <> (seed <code>{b.spot_check_seed}</code>, reproducible)</> : null}.
          </p>
        )}
      </Section>
    </>
  );
}

/** Annotation ids this browser met in tier-2 reviews, per batch's project (the API does not list a batch's annotations). */
export function rememberReviewed(projectId: string, annotationId: string, itemId: string) {
  const key = `clinlabel.reviewed.${projectId}`;
  const list = JSON.parse(localStorage.getItem(key) ?? '[]') as { a: string; i: string }[];
  if (!list.some((x) => x.a === annotationId)) list.push({ a: annotationId, i: itemId });
  localStorage.setItem(key, JSON.stringify(list.slice(-500)));
}

function BatchDecision({ b, questions, onDecided }: { b: BatchView; questions: Schemas['Question'][]; onDecided: (b: BatchView) => void }) {
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [returning, setReturning] = useState(false);
  const [rows, setRows] = useState<{ annotation_id: string; anchor: string; text: string }[]>([]);
  const blankRow = (annotation_id = '') => ({ annotation_id, anchor: questions[0] ? `question:${questions[0].id}` : 'overall', text: '' });
  const toast = useToast();
  const ready = b.state === 'awaiting_approval';
  const canApprove = ready && b.meets_threshold;
  const known = JSON.parse(localStorage.getItem(`clinlabel.reviewed.${b.project_id}`) ?? '[]') as { a: string; i: string }[];

  const approve = async () => {
    setErr(null);
    setBusy(true);
    try {
      const nb = await call('post', '/batches/{id}/decision', { path: { id: b.id }, body: { decision: 'approve' } });
      toast.push('success', 'Batch approved.');
      onDecided(nb);
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const ret = async () => {
    setErr(null);
    setBusy(true);
    try {
      const returned = rows.filter((r) => r.annotation_id.trim()).map((r) => ({ annotation_id: r.annotation_id.trim(), comments: r.text.split('\n').filter((t) => t.trim()).map((t) => ({ anchor: r.anchor, text: t.trim() })) }));
      const nb = await call('post', '/batches/{id}/decision', { path: { id: b.id }, body: { decision: 'return', returned } });
      toast.push('success', 'Batch returned for rework.');
      setReturning(false);
      onDecided(nb);
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  useShortcuts(canApprove ? [{ keys: 'A', description: 'Approve the batch', run: () => void approve() }] : []);

  return (
    <Section title="Decision" testId="batch-decision">
      {!ready ? (
        <p className="muted" data-testid="approve-explain">
          {b.state === 'approved' ? 'This batch is approved.' : `The batch can be decided once every annotation is accepted and the spot-check is done (now: ${BATCH_STATE[b.state] ?? b.state}).`}
        </p>
      ) : !b.meets_threshold ? (
        <p className="bad" id="approve-explain" data-testid="approve-explain">
          Approval is not possible: the batch is under the quality threshold of {b.quality_threshold} (agreement or gold accuracy). Return the weak annotations for rework.
        </p>
      ) : null}
      <div className="form-actions">
        <button type="button" className="primary" disabled={!canApprove || busy} aria-describedby={canApprove ? undefined : 'approve-explain'} onClick={() => void approve()}>
          Approve batch
        </button>
        {ready ? <button type="button" onClick={() => setReturning((r) => !r)} aria-expanded={returning}>Return with feedback…</button> : null}
      </div>
      <ErrorLine error={err} />
      {returning ? (
        <div className="return-form" role="group" aria-label="Return with feedback">
          <p className="muted">
            Name each annotation to rework with line-by-line feedback (one line per comment), anchored to the question it is about.
            The API does not list a batch’s annotations yet, so ids come from your tier-2 reviews or are pasted.
            {known.length ? ' Annotations you reviewed in tier 2 are offered below.' : ''}
          </p>
          {known.length ? (
            <div className="inline-form">
              {known.map((k) => (
                <button key={k.a} type="button" onClick={() => setRows([...rows, blankRow(k.a)])}>Add annotation {k.a.slice(0, 8)}</button>
              ))}
            </div>
          ) : null}
          {rows.map((r, i) => (
            <div key={i} className="row">
              <label className="mini"><span>Annotation {i + 1} id</span><input aria-label={`Annotation ${i + 1} id`} value={r.annotation_id} onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, annotation_id: e.target.value } : x)))} /></label>
              <label className="mini">
                <span>Annotation {i + 1} about</span>
                <select aria-label={`Annotation ${i + 1} about`} value={r.anchor} onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, anchor: e.target.value } : x)))}>
                  {questions.map((q) => <option key={q.id} value={`question:${q.id}`}>{q.text}</option>)}
                  <option value="overall">The whole annotation</option>
                </select>
              </label>
              <label className="mini wide"><span>Annotation {i + 1} feedback</span><textarea aria-label={`Annotation ${i + 1} feedback`} rows={2} value={r.text} onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, text: e.target.value } : x)))} /></label>
            </div>
          ))}
          <button type="button" onClick={() => setRows([...rows, blankRow()])}>Add an annotation</button>{' '}
          <button type="button" className="danger" disabled={busy || rows.length === 0} onClick={() => void ret()}>Return batch</button>
        </div>
      ) : null}
    </Section>
  );
}

/** Batches awaiting approval across projects in progress (`GET /batches?state=awaiting_approval`). */
export function BatchesAwaiting() {
  const [rows, setRows] = useState<{ b: BatchView; project: string }[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    (async () => {
      const batches = await call('get', '/batches', { query: { state: 'awaiting_approval' } });
      const names = new Map<string, string>();
      for (const id of new Set(batches.map((b) => b.project_id))) {
        try {
          names.set(id, (await call('get', '/projects/{id}', { path: { id } })).spec.name);
        } catch {
          names.set(id, '—');
        }
      }
      setRows(batches.map((b) => ({ b, project: names.get(b.project_id) ?? '—' })));
    })().catch((e: unknown) => setError(asApiError(e)));
  }, []);
  if (error) return <ErrorLine error={error} />;
  if (!rows) return <p aria-busy="true">Loading…</p>;
  if (rows.length === 0) return <Empty>No batches waiting for approval.</Empty>;
  return (
    <table aria-label="Batches awaiting approval">
      <thead>
        <tr><th scope="col">Batch</th><th scope="col">Project</th><th scope="col">Accepted</th><th scope="col">Gold accuracy</th><th scope="col">Quality</th></tr>
      </thead>
      <tbody>
        {rows.map(({ b, project }) => (
          <tr key={b.id}>
            <td><Link to={`/batches/${b.id}`}>Batch {b.seq}</Link></td>
            <td>{project}</td>
            <td>{b.accepted} / {b.annotations}</td>
            <td>{pct(b.gold_accuracy)}</td>
            <td>{b.meets_threshold ? <span className="ok">meets threshold</span> : <span className="bad">under threshold</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Tracks with their certification counts and suspended taskers, and rolling gold accuracy per tasker. */
export function TrackHealth() {
  const tracks = useLoad(() => call('get', '/tracks', {}));
  const certs = useLoad(async () => {
    const out: Schemas['Certification'][] = [];
    for (let page = 1; page < 50; page++) {
      const r = await call('get', '/certifications', { query: { page, per_page: 100 } });
      out.push(...r.items);
      if (out.length >= r.total || r.items.length === 0) break;
    }
    return out;
  });
  const acc = useLoad(() => call('get', '/accuracy', { query: {} }));
  const [trackFilter, setTrackFilter] = useState('');
  return (
    <Page title="Tracks and accuracy" testId="page-track-health">
      <Section title="Tracks and certification health" testId="section-track-health">
        <Show l={tracks}>
          {(ts) => (
            <table aria-label="Tracks and certification health">
              <thead>
                <tr><th scope="col">Track</th><th scope="col">Active</th><th scope="col">Suspended</th><th scope="col">Expired</th><th scope="col">Accuracy threshold</th><th scope="col">Suspended taskers</th></tr>
              </thead>
              <tbody>
                {ts.map((t) => {
                  const mine = (certs.data ?? []).filter((c) => c.track_id === t.id);
                  const n = (s: string) => mine.filter((c) => c.status === s).length;
                  const suspended = mine.filter((c) => c.status === 'suspended');
                  return (
                    <tr key={t.id}>
                      <td>{t.name}</td>
                      <td>{certs.data ? n('active') : '…'}</td>
                      <td>{certs.data ? n('suspended') : '…'}</td>
                      <td>{certs.data ? n('expired') : '…'}</td>
                      <td>{pct(t.accuracy_threshold)}</td>
                      <td>{suspended.length ? suspended.map((c) => `${c.user_name}${c.reason ? ` (${c.reason})` : ''}`).join('; ') : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </Show>
      </Section>
      <Section title="Rolling gold accuracy per tasker" testId="section-accuracy">
        <label className="mini">
          <span>Track</span>
          <select aria-label="Filter accuracy by track" value={trackFilter} onChange={(e) => setTrackFilter(e.target.value)}>
            <option value="">All tracks</option>
            {tracks.data?.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </label>
        <Show l={acc}>
          {(rows) => {
            const list = rows.filter((r) => !trackFilter || r.track_id === trackFilter);
            const trackName = (id: string) => tracks.data?.find((t) => t.id === id)?.name ?? id;
            return list.length === 0 ? (
              <Empty>No gold task has been scored yet.</Empty>
            ) : (
              <table aria-label="Accuracy per tasker">
                <thead>
                  <tr><th scope="col">Tasker</th><th scope="col">Track</th><th scope="col">Gold tasks</th><th scope="col">Rolling accuracy</th></tr>
                </thead>
                <tbody>
                  {list.map((r) => {
                    const threshold = tracks.data?.find((t) => t.id === r.track_id)?.accuracy_threshold;
                    const low = r.rolling_accuracy !== null && r.rolling_accuracy !== undefined && threshold !== undefined && r.rolling_accuracy < threshold;
                    return (
                      <tr key={`${r.user_id}-${r.track_id}`}>
                        <td>{r.user_name}</td>
                        <td>{trackName(r.track_id)}</td>
                        <td>{r.gold_tasks}</td>
                        <td className={low ? 'bad' : undefined}>{pct(r.rolling_accuracy, 1)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            );
          }}
        </Show>
      </Section>
    </Page>
  );
}

type RateCard = Schemas['RateCard'];

/** Administrators edit the rate card; PMs read it. */
export function RateCardPage() {
  const me = useMe();
  const l = useLoad(() => call('get', '/rate-card'));
  const edit = me.user.role === 'admin';
  return (
    <Page title="Rate card" testId="page-rate-card">
      <Show l={l}>{(rc) => <RateCardEditor initial={rc} edit={edit} onSaved={l.set} />}</Show>
      {edit ? <TrackRates /> : null}
    </Page>
  );
}

function RateCardEditor({ initial, edit, onSaved }: { initial: RateCard; edit: boolean; onSaved: (r: RateCard) => void }) {
  const [rc, setRc] = useState<RateCard>(initial);
  const [err, setErr] = useState<ApiError | null>(null);
  const toast = useToast();
  const bad = (path: string) => (err?.field && (err.field === path || err.field.startsWith(`${path}.`)) ? true : undefined);
  const setRate = (i: number, patch: Partial<Schemas['Rate']>) => setRc({ ...rc, rates: rc.rates.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  const setTier = (i: number, patch: Partial<Schemas['VolumeTier']>) => setRc({ ...rc, volume_tiers: rc.volume_tiers.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  return (
    <form
      aria-label="Rate card"
      onSubmit={async (e) => {
        e.preventDefault();
        setErr(null);
        try {
          const saved = await call('put', '/rate-card', { body: rc });
          toast.push('success', 'Rate card saved.');
          onSaved(saved);
        } catch (x) {
          setErr(asApiError(x));
        }
      }}
    >
      <Section title="Rates per task type" testId="section-rates">
        <label className="mini"><span>Currency</span><input aria-label="Currency" value={rc.currency} disabled={!edit} aria-invalid={bad('currency')} onChange={(e) => setRc({ ...rc, currency: e.target.value })} /></label>
        <table aria-label="Rates">
          <thead>
            <tr><th scope="col">Modality</th><th scope="col">Task type</th><th scope="col">Price per unit</th><th scope="col">Units per tasker-day</th></tr>
          </thead>
          <tbody>
            {rc.rates.map((r, i) => (
              <tr key={`${r.modality}-${r.task_type}-${i}`}>
                <td>{r.modality}</td>
                <td>{r.task_type}</td>
                <td>
                  <input aria-label={`Price per unit, ${r.modality} ${r.task_type}`} type="number" step="0.01" disabled={!edit} aria-invalid={bad(`rates[${i}].cents_per_unit`)} value={r.cents_per_unit / 100} onChange={(e) => setRate(i, { cents_per_unit: Math.round(e.target.valueAsNumber * 100) })} />
                  <span className="muted"> {money(r.cents_per_unit, rc.currency)}</span>
                </td>
                <td><input aria-label={`Units per tasker-day, ${r.modality} ${r.task_type}`} type="number" step="1" disabled={!edit} aria-invalid={bad(`rates[${i}].units_per_tasker_day`)} value={r.units_per_tasker_day} onChange={(e) => setRate(i, { units_per_tasker_day: e.target.valueAsNumber })} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Volume discounts" testId="section-tiers">
        {rc.volume_tiers.map((t, i) => (
          <div key={i} className="row">
            <label className="mini"><span>From units</span><input aria-label={`Tier ${i + 1} from units`} type="number" disabled={!edit} aria-invalid={bad(`volume_tiers[${i}].min_units`)} value={t.min_units} onChange={(e) => setTier(i, { min_units: e.target.valueAsNumber })} /></label>
            <label className="mini"><span>Discount %</span><input aria-label={`Tier ${i + 1} discount`} type="number" disabled={!edit} aria-invalid={bad(`volume_tiers[${i}].discount_pct`)} value={t.discount_pct} onChange={(e) => setTier(i, { discount_pct: e.target.valueAsNumber })} /></label>
            {edit ? <button type="button" className="link" onClick={() => setRc({ ...rc, volume_tiers: rc.volume_tiers.filter((_, j) => j !== i) })}>Remove tier {i + 1}</button> : null}
          </div>
        ))}
        {edit ? <button type="button" onClick={() => setRc({ ...rc, volume_tiers: [...rc.volume_tiers, { min_units: 0, discount_pct: 0 }] })}>Add a tier</button> : null}
      </Section>
      {err ? (
        <p className="form-error" role="alert" data-testid="form-error">
          {err.field ? <>Check <code>{err.field}</code>: </> : null}
          {err.message} <code className="code">{err.code}</code>
        </p>
      ) : null}
      {edit ? <button type="submit" className="primary">Save rate card</button> : <p className="muted">Only administrators change the rate card.</p>}
    </form>
  );
}

function TrackRates() {
  const tracks = useLoad(() => call('get', '/tracks', {}));
  const [values, setValues] = useState<Record<string, string>>({});
  const [err, setErr] = useState<ApiError | null>(null);
  const toast = useToast();
  return (
    <Section title="Specialty multipliers per track" testId="section-track-rates">
      <p className="muted">The API does not report a track’s current multiplier; setting one replaces it (0.1–10).</p>
      <ErrorLine error={err} />
      <Show l={tracks}>
        {(ts) => (
          <>
            {ts.map((t) => (
              <div key={t.id} className="row">
                <label className="mini"><span>{t.name}</span><input aria-label={`Multiplier for ${t.name}`} type="number" step="0.05" value={values[t.id] ?? ''} onChange={(e) => setValues({ ...values, [t.id]: e.target.value })} /></label>
                <button
                  type="button"
                  aria-label={`Set the multiplier for ${t.name}`}
                  onClick={async () => {
                    setErr(null);
                    try {
                      await call('put', '/tracks/{id}/rate', { path: { id: t.id }, body: { rate_multiplier: Number(values[t.id]) } });
                      toast.push('success', `Multiplier for ${t.name} set.`);
                    } catch (e) {
                      setErr(asApiError(e));
                    }
                  }}
                >
                  Set
                </button>
              </div>
            ))}
          </>
        )}
      </Show>
    </Section>
  );
}

export { formatTime };
