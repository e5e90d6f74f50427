// The classification workspace (taskers: annotate and rework) and the review
// workspace (tier 1 taskers, tier 2 QA reviewers, tier 3 PM spot-checks).
// Keyboard-first: number keys pick the focused question's options (their
// hotkeys), Tab / ↓ / ↑ move between questions, Enter submits, `s` skips with
// a reason; in reviews `a` accepts, `r` rejects, `c` comments on the focused
// question. Reviewers' comments are shown next to the question they anchor.
// Notes (items of kind `note`) of projects that mark spans or ask per sentence
// get the text workspace (./text.tsx): the note
// has the keyboard until `q` moves it to the questions (and back); `S` submits.
// This module is loaded on demand (not part of the first load).
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, call, type Schemas, type TaskView } from '../../api/client';
import { ErrorLine, asApiError } from '../../kit/load';
import { Page, formatTime } from '../../kit/page';
import { useShortcuts, type Shortcut } from '../../kit/shortcuts';
import { useToast } from '../../kit/toast';
import { Link, navigate, useParams } from '../../router';
import { rememberReviewed } from '../qa';
import { ImageViewer, emptyImage, imageOf, isImaging, type ImageAnnotation, type Shape } from './imaging';
import { useUndo } from '../../kit/undo';
import { NotePanel, SentenceQuestions, TextSidePanel, anchoredFeedback, emptyText, labelKey, textOf, usesTextWorkspace, useTextShortcuts, useTextWorkspace, type TextValue } from './text';

type Question = Schemas['Question'];
type Answers = Record<string, string[]>;
type Comment = Schemas['Comment'];

const TIER_NAME: Record<number, string> = { 1: 'Tier 1 peer review', 2: 'Tier 2 QA review', 3: 'Spot-check' };

/** "Start annotating": pulls the next task, and the next after each submission. */
export function AnnotatePage() {
  const [task, setTask] = useState<TaskView | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const pulling = useRef(false);
  const pull = useCallback(async () => {
    if (pulling.current) return;
    pulling.current = true;
    setError(null);
    setTask(undefined);
    try {
      const t = await call('post', '/tasks/next', {});
      setTask(t ?? null);
    } catch (e) {
      setError(asApiError(e));
      setTask(null);
    } finally {
      pulling.current = false;
    }
  }, []);
  useEffect(() => void pull(), [pull]);
  return (
    <Page title="Annotate" testId="page-annotate">
      <ErrorLine error={error} />
      {task === undefined ? <p aria-busy="true">Finding your next task…</p> : null}
      {task === null ? (
        <div className="card" data-testid="no-tasks">
          <p>No tasks are waiting for you in your tracks right now.</p>
          <button type="button" onClick={() => void pull()}>Check again</button> <Link to="/">Back home</Link>
        </div>
      ) : null}
      {task ? <Classify key={task.id} task={task} onDone={() => void pull()} /> : null}
    </Page>
  );
}

/** One task by id: returned work (rework) opened from the home page. */
export function TaskPage() {
  const { id } = useParams();
  const [task, setTask] = useState<TaskView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    // Returned work is listed with its feedback; other tasks are read one by one.
    call('get', '/tasks/returned')
      .then((list) => list.find((t) => t.id === id) ?? call('get', '/tasks/{id}', { path: { id: id! } }))
      .then(setTask, (e: unknown) => setError(asApiError(e)));
  }, [id]);
  return (
    <Page title={task?.kind === 'rework' ? 'Rework' : 'Task'} testId="page-task">
      <ErrorLine error={error} />
      {task ? <Classify task={task} onDone={() => navigate('/')} /> : error ? null : <p aria-busy="true">Loading…</p>}
    </Page>
  );
}

/** A review queue of one tier: pulls the next review after each decision. */
export function ReviewPage() {
  const tier = Number(useParams().tier);
  const [task, setTask] = useState<TaskView | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState(0);
  const pulling = useRef(false);
  const pull = useCallback(async () => {
    if (pulling.current) return;
    pulling.current = true;
    setError(null);
    setTask(undefined);
    try {
      const t = await call('post', '/reviews/next', { query: { tier } });
      setTask(t ?? null);
    } catch (e) {
      setError(asApiError(e));
      setTask(null);
    } finally {
      pulling.current = false;
    }
  }, [tier]);
  useEffect(() => void pull(), [pull]);
  const name = TIER_NAME[tier] ?? `Tier ${tier} review`;
  return (
    <Page title={name} testId="page-review">
      <p className="lede">{done > 0 ? `${done} reviewed in this session.` : 'Reviews are blind: authors appear under a pseudonym.'}</p>
      <ErrorLine error={error} />
      {task === undefined ? <p aria-busy="true">Finding the next review…</p> : null}
      {task === null ? (
        <div className="card" data-testid="no-reviews">
          <p>No reviews are waiting in this queue.</p>
          <button type="button" onClick={() => void pull()}>Check again</button> <Link to="/">Back home</Link>
        </div>
      ) : null}
      {task ? (
        <Review
          key={task.id}
          task={task}
          onDone={() => {
            setDone((n) => n + 1);
            void pull();
          }}
        />
      ) : null}
    </Page>
  );
}

// -- the item -------------------------------------------------------------------

/** The item's text: `GET /tasks/{id}/content` if the server offers it, else `GET /items/{id}/content`; else its metadata. */
function ItemPanel({ task }: { task: TaskView }) {
  const [text, setText] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    const get = async (url: string) => {
      const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/plain, application/json, */*' } });
      if (!r.ok) throw new Error(String(r.status));
      const ct = r.headers.get('Content-Type') ?? '';
      if (!/^(text\/|application\/(json|jsonl))/.test(ct)) throw new Error('not text');
      const t = await r.text();
      return ct.startsWith('application/json') ? pretty(t) : t;
    };
    (async () => {
      for (const url of [`/api/v1/tasks/${encodeURIComponent(task.id)}/content`, `/api/v1/items/${encodeURIComponent(task.item_id)}/content`]) {
        try {
          const t = await get(url);
          if (live) setText(t);
          return;
        } catch {
          /* try the next */
        }
      }
      if (live) setText(null);
    })();
    return () => {
      live = false;
    };
  }, [task.id, task.item_id]);
  const meta = task.item_meta && typeof task.item_meta === 'object' ? Object.entries(task.item_meta as Record<string, unknown>).filter(([, v]) => typeof v !== 'object') : [];
  return (
    <section className="card item-panel" aria-label="Item" data-testid="item-panel">
      <h2>Item <span className="muted">({task.item_kind})</span></h2>
      {text === undefined ? <p aria-busy="true">Loading the item…</p> : null}
      {text ? <pre className="item-text" data-testid="item-text" tabIndex={0}>{text}</pre> : null}
      {text === null ? (
        <p className="notice" data-testid="item-unavailable">The item's content is not available to you through the API yet; its details are shown below.</p>
      ) : null}
      {meta.length ? (
        <dl className="facts">
          {meta.map(([k, v]) => (
            <FactRow key={k} k={k} v={String(v)} />
          ))}
        </dl>
      ) : null}
    </section>
  );
}
function FactRow({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </>
  );
}
function pretty(t: string): string {
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return t;
  }
}

function Guidelines({ text }: { text: string }) {
  const [open, setOpen] = useState(true);
  return (
    <section className="card guidelines-panel" aria-label="Guidelines">
      <h2>
        Guidelines{' '}
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen((o) => !o)}>{open ? 'hide' : 'show'}</button>
      </h2>
      {open ? <pre className="guidelines">{text || 'No guidelines were written for this project.'}</pre> : null}
    </section>
  );
}

function TaskHead({ task }: { task: TaskView }) {
  return (
    <p className="lede" data-testid="task-head">
      {task.project_name} · {task.kind === 'rework' ? 'Rework' : task.kind === 'review' ? (TIER_NAME[task.tier] ?? 'Review') : 'Annotation'}
      {task.annotation && task.kind === 'review' ? <> · by {task.annotation.author}, round {task.annotation.round + 1}</> : null}
      {' '}· due {formatTime(task.deadline)}
      {task.lease_expires_at ? <> · held for you until {formatTime(task.lease_expires_at)}</> : null}
    </p>
  );
}

// -- keyboard ---------------------------------------------------------------------

function optionKey(o: Schemas['LabelDef'], i: number): string {
  return o.hotkey || (i < 9 ? String(i + 1) : '');
}

/** Tracks Shift so that a registered Tab can go backwards. */
function useShiftHeld() {
  const shift = useRef(false);
  useEffect(() => {
    const f = (e: KeyboardEvent) => void (shift.current = e.shiftKey);
    document.addEventListener('keydown', f, true);
    document.addEventListener('keyup', f, true);
    return () => {
      document.removeEventListener('keydown', f, true);
      document.removeEventListener('keyup', f, true);
    };
  }, []);
  return shift;
}

function useQuestionFocus(questions: Question[]) {
  const [focus, setFocus] = useState(0);
  const refs = useRef<(HTMLElement | null)[]>([]);
  const shift = useShiftHeld();
  const move = (d: number) => setFocus((f) => Math.max(0, Math.min(questions.length - 1, f + d)));
  useEffect(() => {
    const el = refs.current[focus];
    if (el && !el.contains(document.activeElement)) el.focus({ preventScroll: false });
  }, [focus]);
  const nav: Shortcut[] = questions.length
    ? [
        { keys: 'Tab', description: 'Next question (Shift+Tab: previous)', run: () => move(shift.current ? -1 : 1) },
        { keys: 'ArrowDown', description: 'Next question', run: () => move(1) },
        { keys: 'ArrowUp', description: 'Previous question', run: () => move(-1) },
      ]
    : [];
  return { focus, setFocus, refs, nav };
}

// -- annotate / rework ----------------------------------------------------------------

function feedbackByQuestion(reviews: Schemas['ReviewView'][]): Record<string, { c: Comment; r: Schemas['ReviewView'] }[]> {
  const out: Record<string, { c: Comment; r: Schemas['ReviewView'] }[]> = {};
  for (const r of reviews) {
    for (const c of r.comments) {
      const q = c.anchor.startsWith('question:') ? c.anchor.slice('question:'.length) : '';
      (out[q] ??= []).push({ c, r });
    }
  }
  return out;
}

function answersOf(task: TaskView): Answers {
  const body = task.annotation?.body as { answers?: Answers } | undefined;
  return body?.answers ? structuredClone(body.answers) : {};
}

function Classify({ task, onDone }: { task: TaskView; onDone: () => void }) {
  const imaging = isImaging(task);
  const textMode = usesTextWorkspace(task);
  const all = task.schema.questions ?? [];
  // Image-level questions are answered per frame, next to the viewer; a note's
  // sentence-level questions per sentence, next to the note.
  const questions = imaging ? all.filter((x) => x.level !== 'image') : textMode ? all.filter((x) => x.level !== 'sentence') : all;
  const sentenceQuestions = textMode ? all.filter((x) => x.level === 'sentence') : [];
  const [text, setText] = useState<TextValue>(() => (task.kind === 'rework' ? textOf(task.annotation?.body) : emptyText()));
  const [answers, setAnswers] = useState<Answers>(() => (task.kind === 'rework' ? answersOf(task) : {}));
  const [skipping, setSkipping] = useState(false);
  const [area, setArea] = useState<'note' | 'questions'>('note');
  const commentedSpans = useMemo(() => new Set(Object.keys(anchoredFeedback(task.reviews, 'span'))), [task.reviews]);
  // A note's annotation and its answers share one undo history (Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y).
  const both = useMemo(() => ({ text, answers }), [text, answers]);
  const setBoth = useCallback((v: { text: TextValue; answers: Answers }) => {
    setText(v.text);
    setAnswers(v.answers);
  }, []);
  const history = useUndo(both, setBoth, textMode && !skipping);
  const current = useRef(both);
  current.current = both;
  const onText = useCallback((t: TextValue, record = true) => {
    if (record) history.commit({ ...current.current, text: t });
    else setText(t);
  }, [history.commit]);
  const onSuggestedAnswers = useCallback((a: Answers) => setAnswers((cur) => ({ ...a, ...cur })), []);
  const tw = useTextWorkspace({ task, value: text, onChange: onText, onSuggestedAnswers, enabled: textMode, commented: commentedSpans });
  useTextShortcuts(tw, textMode && area === 'note');
  const frameQuestions = imaging ? all.filter((x) => x.level === 'image') : [];
  const [image, setImage] = useState<ImageAnnotation>(() => (task.kind === 'rework' ? imageOf(task.annotation?.body) : emptyImage()));
  const [selected, setSelected] = useState<string | null>(null);
  const [shown, setShown] = useState(0);
  const onFrame = useCallback((n: number) => setShown(n), []);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const { focus, setFocus, refs, nav } = useQuestionFocus(questions);
  const toast = useToast();
  const feedback = feedbackByQuestion(task.reviews);
  const q = questions[focus];

  const pick = (qi: number, optionId: string) => {
    const qq = questions[qi]!;
    const next = (a: Answers) => {
      const cur = a[qq.id] ?? [];
      return { ...a, [qq.id]: qq.kind === 'multiple' ? (cur.includes(optionId) ? cur.filter((x) => x !== optionId) : [...cur, optionId]) : [optionId] };
    };
    if (textMode) history.commit({ ...current.current, answers: next(current.current.answers) });
    else setAnswers(next);
  };

  const submit = async () => {
    if (busy) return;
    const missing = questions.findIndex((x) => x.required !== false && !(answers[x.id]?.length));
    if (missing >= 0) {
      setFocus(missing);
      setError(new ApiError(0, 'invalid_field', `Answer “${questions[missing]!.text}” before submitting.`, { field: `answers.${questions[missing]!.id}` }));
      return;
    }
    if (textMode && tw.pending) {
      setArea('note');
      setError(new ApiError(0, 'invalid_field', `Accept, edit or reject the ${tw.pending} pending suggestion${tw.pending === 1 ? '' : 's'} first (} goes to the next).`, { field: 'text' }));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await call('post', '/tasks/{id}/submit', { path: { id: task.id }, body: imaging ? { answers, image: image as never } : textMode ? { answers, text } : { answers } });
      toast.push('success', task.kind === 'rework' ? 'Rework submitted for review.' : 'Annotation submitted.');
      onDone();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const labelKeys = new Set((task.schema.entity_types ?? []).map(labelKey));
  const toQuestions = () => {
    setArea('questions');
    setFocus(0);
  };
  const toNote = () => {
    setArea('note');
    tw.noteRef.current?.focus();
  };
  useShortcuts(
    skipping
      ? []
      : textMode && area === 'note'
        ? [
            { keys: 'q', description: 'Answer the questions about the note', run: toQuestions },
            { keys: 'S', description: 'Submit the annotation', run: () => void submit() },
          ].filter((s) => !labelKeys.has(s.keys))
        : [
            ...(q ? q.options.map((o, i) => ({ keys: optionKey(o, i), description: `${o.name} — ${q.text}`, run: () => pick(focus, o.id) })).filter((s) => s.keys) : []),
            ...nav,
            { keys: 'Enter', description: 'Submit the answers', run: () => void submit() },
            ...(textMode ? [{ keys: 'q', description: 'Back to the note', run: toNote }] : []),
            ...(task.kind === 'annotate' ? [{ keys: 's', description: 'Skip this task (with a reason)', run: () => setSkipping(true) }] : []),
          ],
  );

  return (
    <div className="workspace" data-testid="workspace" data-task-kind={task.kind} data-task-id={task.id}>
      <TaskHead task={task} />
      {task.kind === 'rework' ? <OverallFeedback reviews={task.reviews} /> : null}
      <div className={imaging ? 'workspace-grid imaging' : 'workspace-grid'}>
        <div>
          {imaging ? (
            <section className="card" aria-label="Image">
              <ImageViewer task={task} value={image} onChange={setImage} selected={selected} onSelect={setSelected} onFrame={onFrame} />
            </section>
          ) : textMode ? (
            <section className={`card note-card${area === 'note' ? ' active' : ''}`} aria-label="Note">
              <NotePanel tw={tw} onFocus={() => setArea('note')} />
            </section>
          ) : (
            <ItemPanel task={task} />
          )}
          <Guidelines text={task.guidelines} />
        </div>
        <section className="card" aria-label="Questions">
          {textMode ? (
            <>
              <h2>
                Annotations{' '}
                <button type="button" className="link" onClick={history.undo} disabled={!history.canUndo} data-testid="text-undo">Undo <kbd>Ctrl+Z</kbd></button>{' '}
                <button type="button" className="link" onClick={history.redo} disabled={!history.canRedo} data-testid="text-redo">Redo <kbd>Ctrl+Shift+Z</kbd></button>
              </h2>
              <TextSidePanel tw={tw} feedback={{ spans: anchoredFeedback(task.reviews, 'span'), relations: anchoredFeedback(task.reviews, 'relation') }} sentenceQuestions={<SentenceQuestions tw={tw} questions={sentenceQuestions} />} />
            </>
          ) : null}
          {imaging ? (
            <>
              <h2>Shapes</h2>
              <ShapeList shapes={image.shapes} selected={selected} onSelect={setSelected} onDelete={(id) => setImage({ ...image, shapes: image.shapes.filter((x) => x.id !== id) })} feedback={shapeFeedback(task.reviews)} />
              {image.masks.length ? <p className="muted" data-testid="mask-count">Label maps on {new Set(image.masks.map((m) => m.frame)).size} frame(s): {[...new Set(image.masks.map((m) => m.label))].join(', ')}</p> : null}
              {frameQuestions.map((qq, qi) => (
                <QuestionBlock
                  key={qq.id}
                  q={qq}
                  index={qi}
                  focused={false}
                  chosen={image.frame_answers[String(shown)]?.[qq.id] ?? []}
                  onFocus={() => {}}
                  onPick={(o) => {
                    const cur = image.frame_answers[String(shown)]?.[qq.id] ?? [];
                    const next = qq.kind === 'multiple' ? (cur.includes(o) ? cur.filter((x) => x !== o) : [...cur, o]) : [o];
                    setImage({ ...image, frame_answers: { ...image.frame_answers, [String(shown)]: { ...image.frame_answers[String(shown)], [qq.id]: next } } });
                  }}
                  refCb={() => {}}
                >
                  <p className="muted">On frame {shown + 1}.</p>
                </QuestionBlock>
              ))}
            </>
          ) : null}
          <h2>Questions</h2>
          {questions.length === 0 && !imaging && !textMode ? <p className="notice">This project has no classification questions; its workspace is not available yet.</p> : null}
          {textMode && questions.length ? <p className="muted">{area === 'note' ? <>Press <kbd>q</kbd> to answer these with the keyboard.</> : <>Press <kbd>q</kbd> to go back to the note.</>}</p> : null}
          {questions.map((qq, qi) => (
            <QuestionBlock
              key={qq.id}
              q={qq}
              index={qi}
              focused={qi === focus && (!textMode || area === 'questions')}
              chosen={answers[qq.id] ?? []}
              onFocus={() => {
                setFocus(qi);
                if (textMode) setArea('questions');
              }}
              onPick={(o) => pick(qi, o)}
              refCb={(el) => void (refs.current[qi] = el)}
              invalid={error?.field === `answers.${qq.id}` || !!error?.field?.startsWith(`answers.${qq.id}[`)}
            >
              {feedback[qq.id]?.length ? <Feedback items={feedback[qq.id]!} /> : null}
            </QuestionBlock>
          ))}
          <ErrorLine error={error} />
          <div className="form-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
              Submit <kbd>{textMode && area === 'note' ? 'S' : 'Enter'}</kbd>
            </button>
            {task.kind === 'annotate' ? (
              <button type="button" onClick={() => setSkipping(true)}>
                Skip <kbd>s</kbd>
              </button>
            ) : null}
          </div>
        </section>
      </div>
      {skipping ? <SkipDialog taskId={task.id} onCancel={() => setSkipping(false)} onSkipped={onDone} /> : null}
    </div>
  );
}

function QuestionBlock({ q, index, focused, chosen, onFocus, onPick, refCb, invalid, children, readOnly }: { q: Question; index: number; focused: boolean; chosen: string[]; onFocus: () => void; onPick?: (o: string) => void; refCb: (el: HTMLElement | null) => void; invalid?: boolean; children?: ReactNode; readOnly?: boolean }) {
  return (
    <div
      className={`question${focused ? ' focused' : ''}${invalid ? ' invalid' : ''}`}
      data-testid={`question-${q.id}`}
      ref={refCb}
      tabIndex={-1}
      role={q.kind === 'multiple' ? 'group' : 'radiogroup'}
      aria-labelledby={`qt-${q.id}`}
      aria-invalid={invalid || undefined}
      aria-current={focused ? 'true' : undefined}
      onClick={onFocus}
    >
      <h3 id={`qt-${q.id}`}>
        <span className="muted">{index + 1}.</span> {q.text}
        {q.kind === 'multiple' ? <span className="muted"> (several)</span> : null}
      </h3>
      <div className="options">
        {q.options.map((o, i) => {
          const on = chosen.includes(o.id);
          return (
            <button
              key={o.id}
              type="button"
              tabIndex={-1}
              role={q.kind === 'multiple' ? 'checkbox' : 'radio'}
              aria-checked={on}
              className={`option${on ? ' chosen' : ''}`}
              disabled={readOnly}
              onClick={() => onPick?.(o.id)}
            >
              {optionKey(o, i) ? <kbd>{optionKey(o, i)}</kbd> : null}
              {o.name}
            </button>
          );
        })}
      </div>
      {children}
    </div>
  );
}

/** Reviewers' comments anchored to shapes (`shape:<id>`), by shape id. */
function shapeFeedback(reviews: Schemas['ReviewView'][]): Record<string, { c: Comment; r: Schemas['ReviewView'] }[]> {
  const out: Record<string, { c: Comment; r: Schemas['ReviewView'] }[]> = {};
  for (const r of reviews) for (const c of r.comments) if (c.anchor.startsWith('shape:')) (out[c.anchor.slice('shape:'.length)] ??= []).push({ c, r });
  return out;
}

const TOOL_NAMES: Record<Shape['tool'], string> = { bounding_box_2d: '2D box', bounding_box_3d: '3D box', polygon: 'Polygon', freehand: 'Freehand', spline: 'Spline', keypoints: 'Keypoints' };

/** Where a shape is, in image pixels. */
function where(s: Shape): string {
  const r = Math.round;
  switch (s.tool) {
    case 'bounding_box_2d':
    case 'bounding_box_3d':
      return `(${r(s.x0)}, ${r(s.y0)})–(${r(s.x1)}, ${r(s.y1)})`;
    case 'polygon':
    case 'freehand':
      return `${s.points.length} points`;
    case 'spline':
      return `${s.control_points.length} control points`;
    case 'keypoints':
      return `${s.points.filter(Boolean).length} of ${s.points.length} placed`;
  }
}

/** The shapes of an image annotation: select one (it is highlighted in the viewer), delete it, or comment on it. */
function ShapeList({ shapes, selected, onSelect, onDelete, comments, onComment, feedback }: { shapes: Shape[]; selected: string | null; onSelect: (id: string) => void; onDelete?: (id: string) => void; comments?: Record<string, string>; onComment?: (id: string, text: string) => void; feedback: Record<string, { c: Comment; r: Schemas['ReviewView'] }[]> }) {
  if (!shapes.length) return <p className="muted" data-testid="no-shapes">No shapes yet: pick a tool above the image and draw.</p>;
  return (
    <ul className="shape-list" data-testid="shape-list">
      {shapes.map((s) => {
        const frames = s.tool === 'bounding_box_3d' ? `frames ${s.frames[0] + 1}–${s.frames[1] + 1}` : `frame ${s.frame + 1}`;
        return (
          <li key={s.id} data-testid={`shape-${s.tool}`} data-shape-id={s.id} aria-current={s.id === selected ? 'true' : undefined} className={s.id === selected ? 'selected' : undefined}>
            <button type="button" className="link" onClick={() => onSelect(s.id)}>
              {TOOL_NAMES[s.tool]} · {s.label} · {frames}
            </button>{' '}
            <span className="muted">{where(s)}</span>
            {onDelete ? <button type="button" className="link danger" aria-label={`Delete ${TOOL_NAMES[s.tool]} ${s.label}`} onClick={() => onDelete(s.id)}>delete</button> : null}
            {feedback[s.id]?.length ? <Feedback items={feedback[s.id]!} /> : null}
            {onComment ? (
              <label className="comment">
                <span>Comment on this shape</span>
                <textarea rows={1} value={comments?.[s.id] ?? ''} onFocus={() => onSelect(s.id)} onChange={(e) => onComment(s.id, e.target.value)} />
              </label>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

function Feedback({ items }: { items: { c: Comment; r: Schemas['ReviewView'] }[] }) {
  return (
    <ul className="feedback" aria-label="Reviewers' comments" data-testid="feedback">
      {items.map(({ c, r }, i) => (
        <li key={i} className={`feedback-${r.decision}`}>
          <strong>{r.reviewer}</strong> <span className="muted">({TIER_NAME[r.tier] ?? `tier ${r.tier}`}, {r.decision}, {formatTime(r.created_at)})</span>: {c.text}
        </li>
      ))}
    </ul>
  );
}

function OverallFeedback({ reviews }: { reviews: Schemas['ReviewView'][] }) {
  const general = reviews.filter((r) => r.overall);
  const loose = reviews.flatMap((r) => r.comments.filter((c) => !['question:', 'shape:', 'span:', 'relation:'].some((k) => c.anchor.startsWith(k))).map((c) => ({ c, r })));
  if (!general.length && !loose.length) return null;
  return (
    <section className="card notice" aria-label="Reviewers' feedback" data-testid="overall-feedback">
      <h2>Why it came back</h2>
      <ul>
        {general.map((r, i) => (
          <li key={i}><strong>{r.reviewer}</strong>: {r.overall}</li>
        ))}
        {loose.map(({ c, r }, i) => (
          <li key={`l${i}`}><strong>{r.reviewer}</strong> on <code>{c.anchor}</code>: {c.text}</li>
        ))}
      </ul>
    </section>
  );
}

function SkipDialog({ taskId, onCancel, onSkipped }: { taskId: string; onCancel: () => void; onSkipped: () => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const toast = useToast();
  return (
    <div className="overlay" onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label="Skip this task"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await call('post', '/tasks/{id}/skip', { path: { id: taskId }, body: { reason } });
            toast.push('info', 'Task skipped.');
            onSkipped();
          } catch (err) {
            setError(asApiError(err));
          }
        }}
      >
        <h2>Skip this task</h2>
        <div className="field">
          <label htmlFor="skip-reason">Why are you skipping it?</label>
          <input id="skip-reason" autoFocus value={reason} onChange={(e) => setReason(e.target.value)} required />
        </div>
        <ErrorLine error={error} />
        <div className="form-actions">
          <button type="submit" className="primary">Skip</button>
          <button type="button" onClick={onCancel}>Keep working <kbd>Esc</kbd></button>
        </div>
      </form>
    </div>
  );
}

// -- review -------------------------------------------------------------------------

function Review({ task, onDone }: { task: TaskView; onDone: () => void }) {
  const imaging = isImaging(task);
  const textMode = usesTextWorkspace(task);
  const questions = imaging ? (task.schema.questions ?? []).filter((x) => x.level !== 'image') : textMode ? (task.schema.questions ?? []).filter((x) => x.level !== 'sentence') : (task.schema.questions ?? []);
  const [noteText] = useState<TextValue>(() => (textMode ? textOf(task.annotation?.body) : emptyText()));
  const [textComments, setTextComments] = useState<Record<string, string>>({});
  const onTextComment = useCallback((anchor: string, t: string) => setTextComments((c) => ({ ...c, [anchor]: t })), []);
  const commentedNow = useMemo(() => new Set(Object.entries(textComments).filter(([k, v]) => k.startsWith('span:') && v.trim()).map(([k]) => k.slice(5))), [textComments]);
  const rtw = useTextWorkspace({ task, value: noteText, onChange: () => {}, readOnly: true, enabled: textMode, commented: commentedNow });
  useTextShortcuts(rtw, textMode);
  const answers = answersOf(task);
  const image = imaging ? imageOf(task.annotation?.body) : null;
  const [selected, setSelected] = useState<string | null>(null);
  const [shapeComments, setShapeComments] = useState<Record<string, string>>({});
  const [comments, setComments] = useState<Record<string, string>>({});
  const [overall, setOverall] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const { focus, setFocus, refs, nav } = useQuestionFocus(questions);
  const commentRefs = useRef<Record<string, HTMLTextAreaElement | null>>({});
  const toast = useToast();
  const earlier = feedbackByQuestion(task.reviews);

  const decide = async (decision: 'accept' | 'reject') => {
    if (busy) return;
    const list = [
      ...Object.entries(comments)
        .filter(([, t]) => t.trim())
        .map(([q, text]) => ({ anchor: `question:${q}`, text: text.trim() })),
      ...Object.entries(shapeComments)
        .filter(([, t]) => t.trim())
        .map(([id, text]) => ({ anchor: `shape:${id}`, text: text.trim() })),
      ...Object.entries(textComments)
        .filter(([, t]) => t.trim())
        .map(([anchor, text]) => ({ anchor, text: text.trim() })),
    ];
    if (decision === 'reject' && list.length === 0 && !overall.trim()) {
      setError(new ApiError(0, 'invalid_field', 'A rejection needs a comment: write one next to the question it is about.', { field: 'comments' }));
      const q = questions[focus];
      if (q) commentRefs.current[q.id]?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await call('post', '/tasks/{id}/review', { path: { id: task.id }, // The document's ReviewRequest.decision shows the quote decision (approve/reject), a schema
      // name collision on the server; the route takes accept/reject.
      body: { decision: decision as never, comments: list, overall: overall.trim() || null } });
      if (task.tier === 2 && task.annotation) rememberReviewed(task.project_id, task.annotation.id, task.item_id);
      toast.push('success', decision === 'accept' ? 'Accepted.' : 'Rejected with comments.');
      onDone();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  useShortcuts([
    ...nav,
    { keys: 'a', description: 'Accept the annotation', run: () => void decide('accept') },
    { keys: 'r', description: 'Reject the annotation (needs a comment)', run: () => void decide('reject') },
    {
      keys: 'c',
      description: textMode ? 'Comment on the selected span (else the focused question)' : 'Comment on the focused question',
      run: () => {
        const box = textMode && rtw.selected ? document.querySelector<HTMLTextAreaElement>(`[data-testid="span"][data-span-id="${CSS.escape(rtw.selected)}"] textarea`) : null;
        if (box) return box.focus();
        const q = questions[focus];
        if (q) commentRefs.current[q.id]?.focus();
      },
    },
  ]);

  return (
    <div className="workspace" data-testid="review-workspace" data-task-id={task.id}>
      <TaskHead task={task} />
      <div className={imaging ? 'workspace-grid imaging' : 'workspace-grid'}>
        <div>
          {image ? (
            <section className="card" aria-label="Image">
              <ImageViewer task={task} value={image} readOnly selected={selected} onSelect={setSelected} />
            </section>
          ) : textMode ? (
            <section className="card note-card active" aria-label="Note">
              <NotePanel tw={rtw} />
            </section>
          ) : (
            <ItemPanel task={task} />
          )}
          <Guidelines text={task.guidelines} />
        </div>
        <section className="card" aria-label="Answers under review">
          {image ? (
            <>
              <h2>Shapes under review</h2>
              <ShapeList shapes={image.shapes} selected={selected} onSelect={setSelected} comments={shapeComments} onComment={(id, t) => setShapeComments({ ...shapeComments, [id]: t })} feedback={shapeFeedback(task.reviews)} />
            </>
          ) : null}
          {textMode ? (
            <>
              <h2>Annotations under review</h2>
              <TextSidePanel tw={rtw} feedback={{ spans: anchoredFeedback(task.reviews, 'span'), relations: anchoredFeedback(task.reviews, 'relation') }} comments={textComments} onComment={onTextComment} sentenceQuestions={<SentenceQuestions tw={rtw} questions={(task.schema.questions ?? []).filter((x) => x.level === 'sentence')} />} />
            </>
          ) : null}
          <h2>Answers under review</h2>
          {questions.map((q, qi) => (
            <QuestionBlock key={q.id} q={q} index={qi} focused={qi === focus} chosen={answers[q.id] ?? []} onFocus={() => setFocus(qi)} refCb={(el) => void (refs.current[qi] = el)} readOnly>
              {earlier[q.id]?.length ? <Feedback items={earlier[q.id]!} /> : null}
              <label className="comment">
                <span>Comment on “{q.text}”</span>
                <textarea
                  ref={(el) => void (commentRefs.current[q.id] = el)}
                  rows={2}
                  value={comments[q.id] ?? ''}
                  onFocus={() => setFocus(qi)}
                  onKeyDown={(e) => e.key === 'Escape' && (e.currentTarget.blur(), refs.current[qi]?.focus())}
                  onChange={(e) => setComments({ ...comments, [q.id]: e.target.value })}
                />
              </label>
            </QuestionBlock>
          ))}
          <label className="comment">
            <span>Overall comment (optional)</span>
            <textarea rows={2} value={overall} onChange={(e) => setOverall(e.target.value)} />
          </label>
          <ErrorLine error={error} />
          <div className="form-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void decide('accept')}>
              Accept <kbd>a</kbd>
            </button>
            <button type="button" className="danger" disabled={busy} onClick={() => void decide('reject')}>
              Reject <kbd>r</kbd>
            </button>
          </div>
        </section>
      </div>
    </div>
  );
}
