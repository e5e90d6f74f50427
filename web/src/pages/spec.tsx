// The project specification editor: modality, task types, label schema
// (questions and options; entity types, relations and assertion values for
// text; image tools and labels for images), guidelines, formats, deadline,
// track, overlap, gold rate and QA settings. An `invalid_field` error is shown
// next to the part of the form its `details.field` path names
// (e.g. `schema.relation_types[0].to[0]`), and summarised at the top.
import { useState, type ReactNode } from 'react';
import { ApiError, call, type Schemas, type Spec } from '../api/client';
import { asApiError, useLoad, Show } from '../kit/load';
import { Page, Section } from '../kit/page';
import { useToast } from '../kit/toast';
import { navigate, useParams } from '../router';

type Modality = Schemas['Modality'];
type LabelDef = Schemas['LabelDef'];
type Question = Schemas['Question'];
type RelationType = Schemas['RelationType'];
type ToolDef = Schemas['ToolDef'];
interface Schema { entity_types: LabelDef[]; relation_types: RelationType[]; assertion_values: string[]; questions: Question[]; criteria: Schemas['Criterion'][]; image_tools: ToolDef[]; keypoint_sets: Schemas['KeypointSet'][] }
type Draft = Omit<Spec, 'schema' | 'qa'> & { schema: Schema; qa: Required<Schemas['QaConfig']> };

export const TASK_TYPES: Record<Modality, string[]> = {
  image: ['bounding_box', 'segmentation', 'keypoints', 'classification'],
  text: ['entities', 'relations', 'assertion', 'coding', 'classification'],
  audio: ['transcription', 'diarisation', 'entity_tagging', 'soap_structure', 'dialogue_acts'],
  preference: ['comparison', 'ranking', 'scoring', 'rationale', 'safety'],
  genomic: ['variant_classification', 'biomarker_relevance', 'entity_tagging', 'adverse_event_coding'],
};
export const FORMATS: Record<Modality, string[]> = {
  image: ['native_json', 'coco', 'dicom_seg', 'nifti'],
  text: ['native_jsonl', 'brat', 'bioc', 'conll', 'spacy', 'label_studio'],
  audio: ['native_json', 'webvtt', 'rttm', 'textgrid'],
  preference: ['native_jsonl', 'trl_preference', 'csv'],
  genomic: ['native_jsonl', 'vcf_annotated', 'csv'],
};
export const MODALITY_LABEL: Record<Modality, string> = { image: 'Medical images', text: 'Clinical text', audio: 'Audio and speech', preference: 'AI responses (RLHF)', genomic: 'Genomic and biomedical' };
const ASSERTIONS = ['present', 'absent', 'possible', 'historical', 'family_history', 'hypothetical'];
const CODE_SYSTEMS = ['icd10cm', 'icd10pcs', 'snomedct', 'loinc', 'rxnorm', 'meddra', 'cpt', 'hcpcs'];
const IMAGE_TOOLS: Schemas['ImageTool'][] = ['bounding_box_2d', 'bounding_box_3d', 'polygon', 'freehand', 'spline', 'brush', 'keypoints'];
const DAY = 86_400_000;

function blank(): Draft {
  return {
    name: '',
    modality: 'text',
    task_types: ['classification'],
    schema: {
      entity_types: [],
      relation_types: [],
      assertion_values: [],
      questions: [{ id: 'q1', text: '', kind: 'single', options: [{ id: 'yes', name: 'Yes', hotkey: '1' }, { id: 'no', name: 'No', hotkey: '2' }] }],
      criteria: [],
      image_tools: [],
      keypoint_sets: [],
    },
    guidelines: '',
    output_formats: ['native_jsonl'],
    deadline: Math.ceil((Date.now() + 30 * DAY) / DAY) * DAY,
    track_id: '',
    overlap: 2,
    gold_rate: 0.05,
    qa: { tier1: true, tier2_sampling_pct: 20, tier3_spot_check_pct: 5, quality_threshold: 0.8, max_rework_rounds: 2 },
  };
}

function fromSpec(s: Spec): Draft {
  const b = blank();
  return {
    ...s,
    guidelines: s.guidelines ?? '',
    schema: { ...b.schema, questions: [], ...Object.fromEntries(Object.entries(s.schema).filter(([, v]) => v !== undefined && v !== null)) } as Schema,
    qa: { ...b.qa, ...s.qa } as Draft['qa'],
  };
}

/** Whether an error path falls on `path` (exactly, or inside it when `covers`). */
function hits(field: string | undefined, path: string, covers: boolean): boolean {
  if (!field) return false;
  if (field === path) return true;
  return covers && (field.startsWith(`${path}[`) || field.startsWith(`${path}.`));
}

export function NewProject() {
  return <SpecEditor />;
}

export function EditProject() {
  const { id } = useParams();
  const l = useLoad(() => call('get', '/projects/{id}', { path: { id: id! } }), [id]);
  return <Show l={l}>{(p) => <SpecEditor projectId={p.id} initial={fromSpec(p.spec)} />}</Show>;
}

function SpecEditor({ projectId, initial }: { projectId?: string; initial?: Draft }) {
  const [d, setD] = useState<Draft>(initial ?? blank());
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const tracks = useLoad(() => call('get', '/tracks', {}));
  const toast = useToast();
  const trackId = d.track_id || tracks.data?.[0]?.id || '';

  const up = (f: (x: Draft) => void) =>
    setD((x) => {
      const y = structuredClone(x);
      f(y);
      return y;
    });
  const E = ({ path, covers = false }: { path: string; covers?: boolean }) =>
    err && hits(err.field, path, covers) ? (
      <div className="field-error" role="alert" data-testid={`error-${path}`}>
        {err.message} <code className="code">{err.code}</code>
      </div>
    ) : null;
  const inv = (path: string, covers = false) => (err && hits(err.field, path, covers) ? true : undefined);

  const save = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setErr(null);
    setBusy(true);
    const s = d.schema;
    const spec: Spec = {
      ...d,
      track_id: trackId,
      // Only text projects name a CSV text column; empty means the default ("text").
      text_column: d.modality === 'text' && d.text_column?.trim() ? d.text_column : undefined,
      schema: {
        questions: s.questions,
        entity_types: d.modality === 'text' || d.modality === 'genomic' || d.modality === 'audio' ? s.entity_types : [],
        relation_types: d.modality === 'text' ? s.relation_types : [],
        assertion_values: d.modality === 'text' ? s.assertion_values : [],
        image_tools: d.modality === 'image' ? s.image_tools : [],
        criteria: s.criteria,
        keypoint_sets: s.keypoint_sets,
      },
    };
    try {
      const p = projectId
        ? await call('put', '/projects/{id}', { path: { id: projectId }, body: spec })
        : await call('post', '/projects', { body: spec });
      toast.push('success', projectId ? 'Specification saved.' : 'Project created.');
      navigate(`/projects/${p.id}`);
    } catch (e) {
      const a = asApiError(e);
      setErr(a);
      // Bring the offending part of the form into view.
      window.setTimeout(() => document.querySelector('[aria-invalid="true"], .spec-form .field-error')?.scrollIntoView({ block: 'center' }), 0);
    } finally {
      setBusy(false);
    }
  };

  const text = d.modality === 'text';
  const image = d.modality === 'image';
  const hasEntities = text || d.modality === 'audio' || d.modality === 'genomic';
  return (
    <Page title={projectId ? 'Edit specification' : 'New project'} testId="page-spec">
      <form className="spec-form" aria-label="Project specification" onSubmit={(e) => void save(e)} noValidate>
        {err ? (
          <div className="form-error" role="alert" data-testid="form-error">
            {err.field ? <>Check <code>{err.field}</code>: </> : null}
            {err.message} <code className="code">{err.code}</code>
          </div>
        ) : null}
        <Section title="Project">
          <Fld label="Project name" path="name" E={E}>
            <input id="f-name" value={d.name} aria-invalid={inv('name')} onChange={(e) => up((x) => void (x.name = e.target.value))} required />
          </Fld>
          <Fld label="Modality" path="modality" E={E}>
            <select
              id="f-modality"
              value={d.modality}
              onChange={(e) =>
                up((x) => {
                  const m = e.target.value as Modality;
                  x.modality = m;
                  x.task_types = x.task_types.filter((t) => TASK_TYPES[m].includes(t));
                  x.output_formats = x.output_formats.filter((t) => FORMATS[m].includes(t));
                })
              }
            >
              {(Object.keys(MODALITY_LABEL) as Modality[]).map((m) => <option key={m} value={m}>{MODALITY_LABEL[m]}</option>)}
            </select>
          </Fld>
          <fieldset className="checks" data-path="task_types" aria-invalid={inv('task_types', true)}>
            <legend>Task types</legend>
            {TASK_TYPES[d.modality].map((t) => (
              <label key={t}>
                <input type="checkbox" checked={d.task_types.includes(t)} onChange={(e) => up((x) => void (x.task_types = e.target.checked ? [...x.task_types, t] : x.task_types.filter((y) => y !== t)))} />
                {t.replace(/_/g, ' ')}
              </label>
            ))}
            <E path="task_types" covers />
          </fieldset>
        </Section>

        <Section title="Label schema">
          <h3>Classification questions</h3>
          {d.schema.questions.map((q, i) => {
            const p = `schema.questions[${i}]`;
            return (
              <fieldset key={i} className="schema-row" data-testid={`question-${i}`}>
                <legend>Question {i + 1}</legend>
                <div className="row">
                  <Mini label={`Question ${i + 1} id`} value={q.id} invalid={inv(`${p}.id`)} onChange={(v) => up((x) => void (x.schema.questions[i]!.id = v))} />
                  <Mini wide label={`Question ${i + 1} text`} value={q.text} invalid={inv(`${p}.text`)} onChange={(v) => up((x) => void (x.schema.questions[i]!.text = v))} />
                  <label className="mini">
                    <span>Answers</span>
                    <select aria-label={`Question ${i + 1} answers`} value={q.kind} onChange={(e) => up((x) => void (x.schema.questions[i]!.kind = e.target.value as Question['kind']))}>
                      <option value="single">one option</option>
                      <option value="multiple">several options</option>
                    </select>
                  </label>
                  <label className="mini check">
                    <input type="checkbox" checked={!!q.ordinal} onChange={(e) => up((x) => void (x.schema.questions[i]!.ordinal = e.target.checked))} /> ordered
                  </label>
                  <button type="button" className="link" onClick={() => up((x) => void x.schema.questions.splice(i, 1))}>Remove question {i + 1}</button>
                </div>
                <E path={`${p}.id`} />
                <E path={`${p}.text`} />
                <E path={`${p}.options`} />
                <LabelRows
                  what={`Question ${i + 1} option`}
                  path={`${p}.options`}
                  rows={q.options}
                  E={E}
                  inv={inv}
                  onChange={(rows) => up((x) => void (x.schema.questions[i]!.options = rows))}
                />
              </fieldset>
            );
          })}
          <E path="schema.questions" />
          <button type="button" onClick={() => up((x) => void x.schema.questions.push({ id: `q${x.schema.questions.length + 1}`, text: '', kind: 'single', options: [] }))}>Add a question</button>

          {hasEntities ? (
            <>
              <h3>Entity types</h3>
              <LabelRows what="Entity type" path="schema.entity_types" rows={d.schema.entity_types} E={E} inv={inv} codeSystems onChange={(rows) => up((x) => void (x.schema.entity_types = rows))} />
              <E path="schema.entity_types" />
            </>
          ) : null}
          {text ? (
            <>
              <h3>Relation types</h3>
              {d.schema.relation_types.map((r, i) => {
                const p = `schema.relation_types[${i}]`;
                return (
                  <div key={i} className="row schema-row" data-testid={`relation-${i}`}>
                    <Mini label={`Relation ${i + 1} id`} value={r.id} invalid={inv(`${p}.id`)} onChange={(v) => up((x) => void (x.schema.relation_types[i]!.id = v))} />
                    <Mini label={`Relation ${i + 1} name`} value={r.name} invalid={inv(`${p}.name`)} onChange={(v) => up((x) => void (x.schema.relation_types[i]!.name = v))} />
                    <div>
                      <Mini label={`Relation ${i + 1} from (entity type ids)`} value={r.from.join(', ')} invalid={inv(`${p}.from`, true)} onChange={(v) => up((x) => void (x.schema.relation_types[i]!.from = ids(v)))} />
                      <E path={`${p}.from`} covers />
                    </div>
                    <div>
                      <Mini label={`Relation ${i + 1} to (entity type ids)`} value={r.to.join(', ')} invalid={inv(`${p}.to`, true)} onChange={(v) => up((x) => void (x.schema.relation_types[i]!.to = ids(v)))} />
                      <E path={`${p}.to`} covers />
                    </div>
                    <button type="button" className="link" onClick={() => up((x) => void x.schema.relation_types.splice(i, 1))}>Remove relation {i + 1}</button>
                    <E path={`${p}.id`} />
                    <E path={`${p}.name`} />
                  </div>
                );
              })}
              <E path="schema.relation_types" />
              <button type="button" onClick={() => up((x) => void x.schema.relation_types.push({ id: '', name: '', from: [], to: [] }))}>Add a relation type</button>
              <fieldset className="checks">
                <legend>Assertion values</legend>
                {ASSERTIONS.map((a) => (
                  <label key={a}>
                    <input type="checkbox" checked={d.schema.assertion_values.includes(a)} onChange={(e) => up((x) => void (x.schema.assertion_values = e.target.checked ? [...x.schema.assertion_values, a] : x.schema.assertion_values.filter((y) => y !== a)))} />
                    {a.replace(/_/g, ' ')}
                  </label>
                ))}
                <E path="schema.assertion_values" covers />
              </fieldset>
            </>
          ) : null}
          {image ? (
            <>
              <h3>Image tools and labels</h3>
              {d.schema.image_tools.map((t, i) => {
                const p = `schema.image_tools[${i}]`;
                return (
                  <fieldset key={i} className="schema-row" data-testid={`tool-${i}`}>
                    <legend>Tool {i + 1}</legend>
                    <div className="row">
                      <label className="mini">
                        <span>Tool</span>
                        <select aria-label={`Tool ${i + 1}`} aria-invalid={inv(`${p}.tool`)} value={t.tool} onChange={(e) => up((x) => void (x.schema.image_tools[i]!.tool = e.target.value as ToolDef['tool']))}>
                          {IMAGE_TOOLS.map((k) => <option key={k} value={k}>{k.replace(/_/g, ' ')}</option>)}
                        </select>
                      </label>
                      <button type="button" className="link" onClick={() => up((x) => void x.schema.image_tools.splice(i, 1))}>Remove tool {i + 1}</button>
                    </div>
                    <E path={`${p}.tool`} />
                    <E path={`${p}.keypoint_set`} />
                    <LabelRows what={`Tool ${i + 1} label`} path={`${p}.labels`} rows={t.labels ?? []} E={E} inv={inv} onChange={(rows) => up((x) => void (x.schema.image_tools[i]!.labels = rows))} />
                    <E path={`${p}.labels`} />
                  </fieldset>
                );
              })}
              <E path="schema.image_tools" />
              <button type="button" onClick={() => up((x) => void x.schema.image_tools.push({ tool: 'bounding_box_2d', labels: [] }))}>Add an image tool</button>
            </>
          ) : null}
        </Section>

        <Section title="Guidelines">
          <Fld label="Guidelines (Markdown)" path="guidelines" E={E}>
            <textarea id="f-guidelines" rows={8} value={d.guidelines ?? ''} aria-invalid={inv('guidelines')} onChange={(e) => up((x) => void (x.guidelines = e.target.value))} />
          </Fld>
        </Section>

        <Section title="Delivery, routing and QA">
          <fieldset className="checks" aria-invalid={inv('output_formats', true)}>
            <legend>Output formats</legend>
            {FORMATS[d.modality].map((f) => (
              <label key={f}>
                <input type="checkbox" checked={d.output_formats.includes(f)} onChange={(e) => up((x) => void (x.output_formats = e.target.checked ? [...x.output_formats, f] : x.output_formats.filter((y) => y !== f)))} />
                {f}
              </label>
            ))}
            <E path="output_formats" covers />
          </fieldset>
          <div className="grid-form">
            <Fld label="Deadline" path="deadline" E={E}>
              <input
                id="f-deadline"
                type="date"
                aria-invalid={inv('deadline')}
                value={new Date(d.deadline).toISOString().slice(0, 10)}
                onChange={(e) => up((x) => void (x.deadline = e.target.valueAsNumber || x.deadline))}
              />
            </Fld>
            <Fld label="Specialist track" path="track_id" E={E}>
              <select id="f-track_id" aria-invalid={inv('track_id')} value={trackId} onChange={(e) => up((x) => void (x.track_id = e.target.value))}>
                {tracks.data?.length === 0 ? <option value="">No tracks</option> : null}
                {tracks.data?.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
              </select>
            </Fld>
            <Fld label="Overlap (taskers per item)" path="overlap" E={E}>
              <input id="f-overlap" type="number" min={1} max={10} aria-invalid={inv('overlap')} value={d.overlap} onChange={(e) => up((x) => void (x.overlap = e.target.valueAsNumber))} />
            </Fld>
            <Fld label="Gold rate (0–0.5)" path="gold_rate" E={E}>
              <input id="f-gold_rate" type="number" step="0.01" min={0} max={0.5} aria-invalid={inv('gold_rate')} value={d.gold_rate} onChange={(e) => up((x) => void (x.gold_rate = e.target.valueAsNumber))} />
            </Fld>
            {text ? (
              <Fld label="CSV text column" path="text_column" E={E}>
                <input
                  id="f-text_column"
                  placeholder="text"
                  title="The header of the column holding each note's text in uploaded CSV files; the other columns become the note's metadata, an id column its id."
                  aria-invalid={inv('text_column')}
                  value={d.text_column ?? ''}
                  onChange={(e) => up((x) => void (x.text_column = e.target.value))}
                />
              </Fld>
            ) : null}
            {image ? (
              <Fld label="DICOM dates (de-identification)" path="deidentification.dates" E={E}>
                <select
                  id="f-deidentification.dates"
                  aria-invalid={inv('deidentification.dates')}
                  value={d.deidentification?.dates ?? 'remove'}
                  onChange={(e) => up((x) => void (x.deidentification = { dates: e.target.value as Schemas['DicomDates'] }))}
                >
                  <option value="remove">Remove (Basic Profile)</option>
                  <option value="shift">Shift by one offset per project (keeps intervals)</option>
                  <option value="keep">Keep (full dates)</option>
                </select>
              </Fld>
            ) : null}
            <label className="mini check">
              <input type="checkbox" checked={d.qa.tier1} onChange={(e) => up((x) => void (x.qa.tier1 = e.target.checked))} /> Tier 1 peer review
            </label>
            <Fld label="Tier 2 QA sampling (%)" path="qa.tier2_sampling_pct" E={E}>
              <input id="f-qa.tier2_sampling_pct" type="number" min={0} max={100} aria-invalid={inv('qa.tier2_sampling_pct')} value={d.qa.tier2_sampling_pct} onChange={(e) => up((x) => void (x.qa.tier2_sampling_pct = e.target.valueAsNumber))} />
            </Fld>
            <Fld label="Tier 3 PM spot-check (5–10 %)" path="qa.tier3_spot_check_pct" E={E}>
              <input id="f-qa.tier3_spot_check_pct" type="number" step="0.5" aria-invalid={inv('qa.tier3_spot_check_pct')} value={d.qa.tier3_spot_check_pct} onChange={(e) => up((x) => void (x.qa.tier3_spot_check_pct = e.target.valueAsNumber))} />
            </Fld>
            <Fld label="Quality threshold (0–1)" path="qa.quality_threshold" E={E}>
              <input id="f-qa.quality_threshold" type="number" step="0.05" aria-invalid={inv('qa.quality_threshold')} value={d.qa.quality_threshold} onChange={(e) => up((x) => void (x.qa.quality_threshold = e.target.valueAsNumber))} />
            </Fld>
            <Fld label="Rework rounds before escalation" path="qa.max_rework_rounds" E={E}>
              <input id="f-qa.max_rework_rounds" type="number" min={1} max={10} aria-invalid={inv('qa.max_rework_rounds')} value={d.qa.max_rework_rounds} onChange={(e) => up((x) => void (x.qa.max_rework_rounds = e.target.valueAsNumber))} />
            </Fld>
          </div>
        </Section>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>{projectId ? 'Save specification' : 'Create project'}</button>
        </div>
      </form>
    </Page>
  );
}

function ids(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

type EComp = (p: { path: string; covers?: boolean }) => ReactNode;

function Fld({ label, path, E, children }: { label: string; path: string; E: EComp; children: ReactNode }) {
  return (
    <div className="field" data-path={path}>
      <label htmlFor={`f-${path}`}>{label}</label>
      {children}
      <E path={path} />
    </div>
  );
}

function Mini({ label, value, onChange, invalid, wide }: { label: string; value: string; onChange: (v: string) => void; invalid?: boolean; wide?: boolean }) {
  return (
    <label className={`mini${wide ? ' wide' : ''}`}>
      <span>{label}</span>
      <input aria-label={label} value={value} aria-invalid={invalid} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}

function LabelRows({ what, path, rows, onChange, E, inv, codeSystems }: { what: string; path: string; rows: LabelDef[]; onChange: (r: LabelDef[]) => void; E: EComp; inv: (p: string, c?: boolean) => true | undefined; codeSystems?: boolean }) {
  const set = (i: number, patch: Partial<LabelDef>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <div className="label-rows">
      {rows.map((r, i) => {
        const p = `${path}[${i}]`;
        const n = `${what} ${i + 1}`;
        return (
          <div key={i} className="row">
            <Mini label={`${n} id`} value={r.id} invalid={inv(`${p}.id`)} onChange={(v) => set(i, { id: v })} />
            <Mini label={`${n} name`} value={r.name} invalid={inv(`${p}.name`)} onChange={(v) => set(i, { name: v })} />
            <Mini label={`${n} hotkey`} value={r.hotkey ?? ''} invalid={inv(`${p}.hotkey`)} onChange={(v) => set(i, { hotkey: v || null })} />
            {codeSystems ? (
              <label className="mini">
                <span>{n} code system</span>
                <select aria-label={`${n} code system`} aria-invalid={inv(`${p}.code_system`)} value={r.code_system ?? ''} onChange={(e) => set(i, { code_system: e.target.value || null })}>
                  <option value="">none</option>
                  {CODE_SYSTEMS.map((c) => <option key={c} value={c}>{c}</option>)}
                </select>
              </label>
            ) : null}
            <button type="button" className="link" onClick={() => onChange(rows.filter((_, j) => j !== i))}>Remove {n.toLowerCase()}</button>
            <div className="row-errors">
              <E path={`${p}.id`} />
              <E path={`${p}.name`} />
              <E path={`${p}.hotkey`} />
              <E path={`${p}.color`} />
              <E path={`${p}.code_system`} />
            </div>
          </div>
        );
      })}
      <button type="button" onClick={() => onChange([...rows, { id: '', name: '', hotkey: rows.length < 9 ? String(rows.length + 1) : null }])}>Add {what.toLowerCase()}</button>
    </div>
  );
}
