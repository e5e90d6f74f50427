// The clinical text workspace: a note with its entity spans highlighted
// (overlapping and nested spans stack as underlines, one lane each;
// suggestions are dashed), relations drawn as typed arrows over the text,
// an assertion and codes per span (type-ahead search in the code system the
// schema binds to the span's entity type, the release version stored with
// each code), and the note's sentences for sentence-level questions.
//
// Offsets: the server stores Unicode scalar values (chars); the DOM and
// JavaScript strings count UTF-16 units. `Offsets` converts both ways, once
// per note (identity when the note has no surrogate pairs): selections are
// read in units and stored in chars, spans are drawn in units. CRLF is two
// chars, a combining accent one, an emoji outside the BMP one char and two
// units — as the server counts.
//
// A 200,000-character note stays responsive: the note is cut into blocks
// (lines, long lines at spaces), each a memoised component redrawn only when
// a span touching it changes, each line its own layout box
// (content-visibility), arrows measured only when spans or relations change,
// and the span list windowed around the selection (web/bench/text.bench.ts).
//
// Keyboard (the note has focus): ←/→ move by word, Shift+←/→ extend the
// selection, a label's hotkey makes the selection a span of that label
// (or relabels the selected span), ]/[ next/previous span, }/{ next/previous
// pending suggestion, y accept (Y: all pending), x reject a suggestion or
// delete a span (X: reject all pending), v/V next/previous assertion, c code
// search, b set the selected span's bounds to the selection, r relate the
// selected span to another (select it, then r or Enter, or click it;
// digits pick the type when several fit). Relations are deleted from the list;
// suggested relations (from a Label Studio task) are accepted or rejected
// there. Ctrl+Z undoes and Ctrl+Shift+Z / Ctrl+Y redoes every edit — spans,
// relations, assertions, codes, answers, decisions on suggestions (kit/undo,
// held by the workspace over the note's annotation and its answers).
//
// Suggestions say where they come from (`origins`): a code system's
// dictionary, the project's lexicon, or the note's own Label Studio task.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, call, type Schemas, type TaskView } from '../../api/client';
import { useShortcuts, type Shortcut } from '../../kit/shortcuts';

export type TSpan = Schemas['TextSpan'];
export type TRelation = Schemas['TextRelation'];
export type TCode = Schemas['TextCode'];
export type TClassification = Schemas['TextClassification'];
export type Assertion = Schemas['Assertion'];
type Range = Schemas['TextRange'];
type Suggested = Schemas['TextSuggested'];

export interface TextValue { spans: TSpan[]; relations: TRelation[]; classifications: TClassification[] }
export const emptyText = (): TextValue => ({ spans: [], relations: [], classifications: [] });

export function textOf(body: unknown): TextValue {
  const t = (body as { text?: Partial<TextValue> | null } | undefined)?.text;
  return { spans: t?.spans ? structuredClone(t.spans) : [], relations: t?.relations ? structuredClone(t.relations) : [], classifications: t?.classifications ? structuredClone(t.classifications) : [] };
}

export function isText(task: TaskView): boolean {
  return task.item_kind === 'note';
}

/** Notes of projects that mark spans or ask per sentence get the text workspace; the others
 * (document classification only) keep the plain item view and the question keys. */
export function usesTextWorkspace(task: TaskView): boolean {
  return isText(task) && ((task.schema.entity_types ?? []).length > 0 || (task.schema.questions ?? []).some((q) => q.level === 'sentence'));
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];
const ASSERTION_NAMES: Record<Assertion, string> = { present: 'present', absent: 'absent', possible: 'possible', historical: 'historical', family_history: 'family history', hypothetical: 'hypothetical' };

// -- offsets ------------------------------------------------------------------------------

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** Char (Unicode scalar value) ↔ UTF-16 unit offsets of one text. */
export class Offsets {
  readonly chars: number;
  readonly units: number;
  /** UTF-16 offset of each char offset (length chars + 1); null when they are equal. */
  private readonly c2u: Uint32Array | null;
  constructor(text: string) {
    this.units = text.length;
    let pairs = false;
    for (let i = 0; i + 1 < text.length; i++) {
      if (isHigh(text.charCodeAt(i)) && isLow(text.charCodeAt(i + 1))) {
        pairs = true;
        break;
      }
    }
    if (!pairs) {
      this.chars = text.length;
      this.c2u = null;
      return;
    }
    const out = new Uint32Array(text.length + 1);
    let n = 0;
    for (let u = 0; u < text.length; ) {
      out[n++] = u;
      u += isHigh(text.charCodeAt(u)) && u + 1 < text.length && isLow(text.charCodeAt(u + 1)) ? 2 : 1;
    }
    out[n] = text.length;
    this.chars = n;
    this.c2u = out.slice(0, n + 1);
  }
  /** UTF-16 offset of a char offset (clamped to the text). */
  units_(c: number): number {
    const k = Math.max(0, Math.min(c, this.chars));
    return this.c2u ? this.c2u[k]! : k;
  }
  /** Char offset of a UTF-16 offset; inside a surrogate pair it moves back (`floor`) or on (`ceil`). */
  chars_(u: number, round: 'floor' | 'ceil' = 'floor'): number {
    const v = Math.max(0, Math.min(u, this.units));
    if (!this.c2u) return v;
    let lo = 0, hi = this.chars;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.c2u[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    return this.c2u[lo] === v || round === 'floor' ? lo : lo + 1;
  }
}

// -- the note's blocks ------------------------------------------------------------------------

/** `cont`: the block continues the line of the block before it. */
interface BlockRange { start: number; end: number; cont: boolean }

/** Lines (a block ends after each \n), long lines cut at a space near `max` units. */
export function blocksOf(text: string, max = 2000): BlockRange[] {
  const out: BlockRange[] = [];
  let start = 0;
  let cont = false;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    let end = nl < 0 ? text.length : nl + 1;
    if (end - start > max) {
      const sp = text.lastIndexOf(' ', start + max);
      end = sp > start ? sp + 1 : start + max;
      if (isLow(text.charCodeAt(end)) && end > start + 1) end -= 1;
    }
    out.push({ start, end, cont });
    cont = text.charCodeAt(end - 1) !== 10;
    start = end;
  }
  return out;
}

/** A span as drawn: UTF-16 range, lane (for stacking), colour, tag. */
interface Drawn { id: string; u0: number; u1: number; lane: number; color: string; dashed: boolean; tag: string; commented: boolean }

interface BlockData { i: number; start: number; end: number; cont: boolean; text: string; spans: Drawn[]; selected: string | null; sig: string }

function laneOf(spans: { u0: number; u1: number }[]): number[] {
  const order = spans.map((_, i) => i).sort((a, b) => spans[a]!.u0 - spans[b]!.u0 || spans[b]!.u1 - spans[a]!.u1);
  const ends: number[] = [];
  const lanes = new Array<number>(spans.length).fill(0);
  for (const i of order) {
    let l = ends.findIndex((e) => e <= spans[i]!.u0);
    if (l < 0) {
      l = ends.length;
      ends.push(0);
    }
    ends[l] = spans[i]!.u1;
    lanes[i] = l;
  }
  return lanes;
}

const Block = memo(function Block({ b }: { b: BlockData }) {
  const { start, text, spans } = b;
  if (!spans.length) return <div className="nb" data-s={start} data-e={b.end}><span className="seg" data-s={start}>{text}</span></div>;
  const cuts = new Set<number>([0, text.length]);
  for (const s of spans) {
    cuts.add(Math.max(0, s.u0 - start));
    cuts.add(Math.min(text.length, s.u1 - start));
  }
  const pts = [...cuts].sort((x, y) => x - y);
  const segs: ReactNode[] = [];
  for (let k = 0; k + 1 < pts.length; k++) {
    const a = pts[k]!, z = pts[k + 1]!;
    if (a === z) continue;
    const cover = spans.filter((s) => s.u0 - start <= a && s.u1 - start >= z);
    if (!cover.length) {
      segs.push(<span key={a} className="seg" data-s={start + a}>{text.slice(a, z)}</span>);
      continue;
    }
    const starting = cover.filter((s) => s.u0 - start === a);
    const inner = cover.reduce((x, y) => (y.u1 - y.u0 < x.u1 - x.u0 ? y : x));
    const images: string[] = [], sizes: string[] = [], positions: string[] = [], repeats: string[] = [];
    for (const s of cover) {
      images.push(s.dashed ? `repeating-linear-gradient(90deg, ${s.color} 0 4px, transparent 4px 7px)` : `linear-gradient(${s.color}, ${s.color})`);
      sizes.push('100% 2px');
      positions.push(`0 calc(100% - ${s.lane * 4}px)`);
      repeats.push('no-repeat');
    }
    const lanes = Math.max(...cover.map((s) => s.lane)) + 1;
    const sel = b.selected !== null && cover.some((s) => s.id === b.selected);
    segs.push(
      <span
        key={a}
        className={`seg on${sel ? ' sel' : ''}${cover.some((s) => s.commented) ? ' commented' : ''}${inner.dashed ? ' suggested' : ''}`}
        data-s={start + a}
        data-top={inner.id}
        data-spans={cover.map((s) => s.id).join(' ')}
        data-first={starting.length ? starting.map((s) => s.id).join(' ') : undefined}
        data-tag={starting.length ? starting.map((s) => s.tag).join(' · ') : undefined}
        style={{ backgroundImage: images.join(', '), backgroundSize: sizes.join(', '), backgroundPosition: positions.join(', '), backgroundRepeat: repeats.join(', '), backgroundColor: `${inner.color}${inner.dashed ? '12' : '22'}`, paddingBottom: `${lanes * 4}px` }}
      >
        {text.slice(a, z)}
      </span>,
    );
  }
  return <div className="nb" data-s={start} data-e={b.end}>{segs}</div>;
}, (p, n) => p.b === n.b);

// -- the state of one workspace -------------------------------------------------------------------

export type SuggestionOrigin = Schemas['SuggestionOrigin'];
export interface Suggestions { sentences: Range[]; candidates: Record<string, TCode[]>; chars: number; origins: Record<string, SuggestionOrigin> }
const ORIGIN_NAMES: Record<SuggestionOrigin, string> = { code_system: 'code system', lexicon: 'project lexicon', label_studio: 'Label Studio' };
const isPendingRelation = (r: TRelation) => r.source === 'suggested' && (r.state ?? 'pending') === 'pending';

type Origin = Suggested;
const originOf = (s: TSpan): Origin => s.suggested ?? { label: s.label, start: s.start, end: s.end, assertion: s.assertion ?? null, codes: s.codes ?? [] };
const sameCodes = (a: TCode[] | undefined, b: TCode[] | undefined) => JSON.stringify((a ?? []).map((c) => [c.system, c.code])) === JSON.stringify((b ?? []).map((c) => [c.system, c.code]));
function differs(s: TSpan, o: Origin): boolean {
  return s.label !== o.label || s.start !== o.start || s.end !== o.end || (s.assertion ?? null) !== (o.assertion ?? null) || !sameCodes(s.codes, o.codes);
}

function nextId(prefix: string, ids: string[]): string {
  let n = 0;
  for (const id of ids) {
    const m = id.match(/^([A-Z]+)(\d+)$/);
    if (m && m[1] === prefix) n = Math.max(n, Number(m[2]));
  }
  return `${prefix}${n + 1}`;
}

const WORD = /[\p{L}\p{N}\p{M}]/u;

async function loadNote(taskId: string): Promise<string> {
  const r = await fetch(`/api/v1/tasks/${encodeURIComponent(taskId)}/content`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`The note could not be loaded (HTTP ${r.status}).`);
  const ct = r.headers.get('Content-Type') ?? '';
  // The BOM, if any, is part of the stored text: keep it so offsets agree with the server.
  const raw = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true }).decode(await r.arrayBuffer());
  if (ct.startsWith('application/json')) {
    const v = JSON.parse(raw) as { text?: unknown };
    if (typeof v.text !== 'string') throw new Error('The note has no text.');
    return v.text;
  }
  return raw;
}

export interface TextWorkspace {
  task: TaskView;
  note: string | null;
  error: string | null;
  offsets: Offsets | null;
  value: TextValue;
  readOnly: boolean;
  blocks: BlockData[];
  suggestions: Suggestions | null;
  selected: string | null;
  select: (id: string | null, scroll?: boolean) => void;
  /** The current selection in UTF-16 units (a collapsed one is the cursor). */
  sel: { a: number; f: number } | null;
  setSel: (s: { a: number; f: number } | null) => void;
  /** The sentence holding the cursor or the selected span. */
  sentence: Range | null;
  relFrom: string | null;
  setRelFrom: (id: string | null) => void;
  typePick: { from: string; to: string; types: Schemas['RelationType'][] } | null;
  message: string | null;
  pending: number;
  noteRef: React.RefObject<HTMLDivElement | null>;
  codeInput: React.RefObject<HTMLInputElement | null>;
  // edits
  create: (label: string) => void;
  relabel: (id: string, label: string) => void;
  setAssertion: (id: string, a: Assertion | null) => void;
  addCode: (id: string, c: TCode) => void;
  removeCode: (id: string, i: number) => void;
  setBounds: (id: string) => void;
  accept: (id: string) => void;
  reject: (id: string) => void;
  restore: (id: string) => void;
  decideAll: (accept: boolean) => void;
  relate: (from: string, to: string, type?: string) => void;
  removeRelation: (id: string) => void;
  decideRelation: (id: string, accept: boolean) => void;
  setSentenceAnswer: (question: string, range: Range, answers: string[]) => void;
  labelOf: (id: string) => Schemas['LabelDef'] | undefined;
  spanText: (s: TSpan) => string;
  colorOf: (label: string) => string;
}

/** Loads the note (and, for a new annotation, the suggestions) and holds the workspace state. */
export function useTextWorkspace(opts: {
  task: TaskView;
  value: TextValue;
  /** Every edit; `record: false` for the suggestions loaded with the note (not an undoable step). */
  onChange: (v: TextValue, record?: boolean) => void;
  /** Suggested answers to document questions (from a Label Studio task), once, for a new annotation. */
  onSuggestedAnswers?: (answers: Record<string, string[]>) => void;
  readOnly?: boolean;
  enabled: boolean;
  commented?: Set<string>;
}): TextWorkspace {
  const { task, value, onChange, enabled } = opts;
  const readOnly = !!opts.readOnly;
  const schema = task.schema;
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [suggestions, setSuggestions] = useState<Suggestions | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [sel, setSel] = useState<{ a: number; f: number } | null>(null);
  const [relFrom, setRelFrom] = useState<string | null>(null);
  const [typePick, setTypePick] = useState<TextWorkspace['typePick']>(null);
  const [message, setMessage] = useState<string | null>(null);
  const noteRef = useRef<HTMLDivElement | null>(null);
  const codeInput = useRef<HTMLInputElement | null>(null);
  const latest = useRef(value);
  latest.current = value;
  const origins = useRef<Map<string, Origin>>(new Map());
  const change = useCallback((f: (v: TextValue) => TextValue) => {
    // Several edits before the next render build on each other.
    const next = f(latest.current);
    latest.current = next;
    onChange(next);
  }, [onChange]);

  useEffect(() => {
    if (!enabled) return;
    let live = true;
    const fresh = !readOnly && task.kind === 'annotate' && latest.current.spans.length === 0;
    (async () => {
      try {
        const text = await loadNote(task.id);
        const s = await call('get', '/tasks/{id}/suggestions', { path: { id: task.id }, query: { suggest: fresh } });
        if (!live) return;
        const offsets = new Offsets(text);
        if (offsets.chars !== s.chars) throw new Error(`The note has ${offsets.chars} characters here and ${s.chars} on the server.`);
        setNote(text);
        setSuggestions({ sentences: s.sentences, candidates: s.candidates, chars: s.chars, origins: s.origins });
        if (fresh && (s.spans.length || s.relations.length)) {
          latest.current = { ...latest.current, spans: [...latest.current.spans, ...s.spans], relations: [...latest.current.relations, ...s.relations] };
          onChange(latest.current, false);
        }
        if (fresh && Object.keys(s.answers).length) opts.onSuggestedAnswers?.(s.answers);
        for (const sp of fresh ? s.spans : latest.current.spans) if (sp.source === 'suggested') origins.current.set(sp.id, originOf(sp));
      } catch (e) {
        if (live) setError(e instanceof ApiError || e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      live = false;
    };
    // Loaded once per task.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, task.id]);

  const offsets = useMemo(() => (note === null ? null : new Offsets(note)), [note]);
  const ranges = useMemo(() => (note === null ? [] : blocksOf(note)), [note]);
  const labels = schema.entity_types ?? [];
  const colorOf = useCallback((label: string) => {
    const i = labels.findIndex((l) => l.id === label);
    return labels[i]?.color ?? PALETTE[(i < 0 ? labels.length : i) % PALETTE.length]!;
  }, [labels]);
  const labelOf = useCallback((id: string) => labels.find((l) => l.id === id), [labels]);

  // Blocks, reusing the previous object of every block whose spans did not change.
  const cache = useRef<Map<number, BlockData>>(new Map());
  const commented = opts.commented;
  const blocks = useMemo(() => {
    if (note === null || !offsets) return [];
    const live = value.spans.filter((s) => s.state !== 'rejected');
    const drawn = live.map((s) => ({ s, u0: offsets.units_(s.start), u1: offsets.units_(s.end) }));
    const lanes = laneOf(drawn);
    const per: Drawn[][] = ranges.map(() => []);
    drawn.forEach((d, k) => {
      // Blocks overlapping [u0, u1): binary search the first.
      let lo = 0, hi = ranges.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ranges[mid]!.end <= d.u0) lo = mid + 1;
        else hi = mid;
      }
      const item: Drawn = { id: d.s.id, u0: d.u0, u1: d.u1, lane: lanes[k]!, color: colorOf(d.s.label), dashed: d.s.source === 'suggested' && (d.s.state ?? 'pending') === 'pending', tag: labelOf(d.s.label)?.name ?? d.s.label, commented: !!commented?.has(d.s.id) };
      for (let i = lo; i < ranges.length && ranges[i]!.start < d.u1; i++) per[i]!.push(item);
    });
    const out: BlockData[] = [];
    const next = new Map<number, BlockData>();
    ranges.forEach((r, i) => {
      const spans = per[i]!;
      const selHere = selected !== null && spans.some((s) => s.id === selected) ? selected : null;
      const sig = spans.map((s) => `${s.id}:${s.u0}:${s.u1}:${s.lane}:${s.color}:${s.dashed ? 1 : 0}:${s.tag}:${s.commented ? 1 : 0}`).join('|') + `#${selHere ?? ''}`;
      const prev = cache.current.get(i);
      const b = prev && prev.sig === sig && prev.start === r.start && prev.end === r.end ? prev : { i, start: r.start, end: r.end, cont: r.cont, text: note.slice(r.start, r.end), spans, selected: selHere, sig };
      next.set(i, b);
      out.push(b);
    });
    cache.current = next;
    return out;
  }, [note, offsets, ranges, value.spans, selected, colorOf, labelOf, commented]);

  const spanText = useCallback((s: TSpan) => (note && offsets ? note.slice(offsets.units_(s.start), offsets.units_(s.end)) : (s.text ?? '')), [note, offsets]);

  const sentence = useMemo(() => {
    if (!suggestions || !offsets) return null;
    const span = selected ? value.spans.find((s) => s.id === selected) : undefined;
    const at = span ? span.start : sel ? offsets.chars_(Math.min(sel.a, sel.f)) : null;
    if (at === null) return suggestions.sentences[0] ?? null;
    return suggestions.sentences.find((r) => r.start <= at && at < r.end) ?? suggestions.sentences.find((r) => r.start >= at) ?? null;
  }, [suggestions, offsets, selected, sel, value.spans]);

  const select = useCallback((id: string | null, scroll = true) => {
    setSelected(id);
    if (id && scroll) {
      requestAnimationFrame(() => {
        const el = noteRef.current?.querySelector(`[data-first~="${CSS.escape(id)}"]`);
        el?.scrollIntoView({ block: 'nearest' });
      });
    }
  }, []);

  // -- edits -------------------------------------------------------------------------
  /** `v` with span `id` changed by `patch` (a suggestion becomes accepted or edited). */
  const patched = useCallback((v: TextValue, id: string, patch: Partial<TSpan>): TextValue => ({
    ...v,
    spans: v.spans.map((s) => {
      if (s.id !== id) return s;
      const n: TSpan = { ...s, ...patch };
      if (n.source === 'suggested' && n.state !== 'rejected') {
        const o = origins.current.get(id) ?? originOf(s);
        const edited = differs(n, o);
        n.state = edited ? 'edited' : 'accepted';
        n.suggested = edited ? o : null;
      }
      return n;
    }),
  }), []);
  const update = useCallback((id: string, patch: Partial<TSpan>) => change((v) => patched(v, id, patch)), [change, patched]);

  const selChars = useCallback((): [number, number] | null => {
    if (!sel || !offsets || note === null || sel.a === sel.f) return null;
    let a = Math.min(sel.a, sel.f), z = Math.max(sel.a, sel.f);
    while (a < z && /\s/.test(note[a]!)) a++;
    while (z > a && /\s/.test(note[z - 1]!)) z--;
    if (a >= z) return null;
    return [offsets.chars_(a, 'floor'), offsets.chars_(z, 'ceil')];
  }, [sel, offsets, note]);

  const relabel = useCallback((id: string, label: string) => {
    const s = latest.current.spans.find((x) => x.id === id);
    if (!s || s.label === label) return;
    // One edit (one undo step): the new label, and relations that no longer fit their type go.
    change((v) => ({ ...patched(v, id, { label, codes: [] }), relations: v.relations.filter((r) => {
      const t = (schema.relation_types ?? []).find((x) => x.id === r.type);
      const lab = (sid: string) => (sid === id ? label : v.spans.find((x) => x.id === sid)?.label ?? '');
      return !!t && t.from.includes(lab(r.from)) && t.to.includes(lab(r.to));
    }) }));
  }, [change, schema.relation_types]);

  const create = useCallback((label: string) => {
    if (readOnly) return;
    const r = selChars();
    if (!r) {
      if (selected) relabel(selected, label);
      else setMessage('Select some text first (drag, or Shift+→ from the cursor).');
      return;
    }
    const id = nextId('T', latest.current.spans.map((s) => s.id));
    change((v) => ({ ...v, spans: [...v.spans, { id, label, start: r[0], end: r[1], source: 'manual', codes: [] }] }));
    setSelected(id);
    setSel(null);
    window.getSelection()?.removeAllRanges();
    setMessage(null);
  }, [readOnly, selChars, selected, relabel, change]);

  const setBounds = useCallback((id: string) => {
    const r = selChars();
    if (!r) return setMessage('Select the new extent of the span first.');
    update(id, { start: r[0], end: r[1], text: undefined });
    setSel(null);
    window.getSelection()?.removeAllRanges();
  }, [selChars, update]);

  const accept = useCallback((id: string) => {
    const s = latest.current.spans.find((x) => x.id === id);
    if (!s || s.source !== 'suggested') return;
    const o = origins.current.get(id) ?? originOf(s);
    change((v) => ({ ...v, spans: v.spans.map((x) => (x.id === id ? { ...x, state: differs(x, o) ? 'edited' : 'accepted', suggested: differs(x, o) ? o : null } : x)) }));
  }, [change]);

  /** `v` with the spans `ids` rejected (suggestions, keeping what was proposed for the quality
   * measure) or deleted (manual spans), and the relations touching them gone. */
  const rejected = useCallback((v: TextValue, ids: Set<string>): TextValue => ({
    spans: v.spans.flatMap((x) => {
      if (!ids.has(x.id)) return [x];
      if (x.source !== 'suggested') return [];
      const o = origins.current.get(x.id) ?? originOf(x);
      return [{ ...x, label: o.label, start: o.start, end: o.end, assertion: o.assertion ?? null, codes: o.codes ?? [], state: 'rejected' as const, suggested: null, text: undefined }];
    }),
    relations: v.relations.filter((r) => !ids.has(r.from) && !ids.has(r.to)),
    classifications: v.classifications,
  }), []);

  const reject = useCallback((id: string) => {
    const s = latest.current.spans.find((x) => x.id === id);
    if (!s) return;
    change((v) => rejected(v, new Set([id])));
    if (s.source !== 'suggested') setSelected(null);
  }, [change, rejected]);

  const restore = useCallback((id: string) => {
    change((v) => ({ ...v, spans: v.spans.map((x) => (x.id === id ? { ...x, state: 'pending', suggested: null } : x)) }));
  }, [change]);

  // Every pending suggestion (spans and relations) in one edit.
  const decideAll = useCallback((yes: boolean) => {
    const ids = new Set(latest.current.spans.filter((s) => s.source === 'suggested' && (s.state ?? 'pending') === 'pending').map((s) => s.id));
    const rels = (v: TextValue): TextValue => ({ ...v, relations: v.relations.map((r) => (isPendingRelation(r) ? { ...r, state: yes ? 'accepted' : 'rejected' } : r)) });
    if (yes) change((v) => rels({ ...v, spans: v.spans.map((x) => (ids.has(x.id) ? { ...x, state: 'accepted' } : x)) }));
    else change((v) => rejected(rels(v), ids));
  }, [change, rejected]);

  const decideRelation = useCallback((id: string, yes: boolean) => {
    change((v) => ({ ...v, relations: v.relations.map((r) => (r.id === id && r.source === 'suggested' ? { ...r, state: yes ? 'accepted' : 'rejected' } : r)) }));
  }, [change]);

  const relate = useCallback((from: string, to: string, type?: string) => {
    const v = latest.current;
    const a = v.spans.find((s) => s.id === from), b = v.spans.find((s) => s.id === to);
    if (!a || !b || from === to) return;
    const types = (schema.relation_types ?? []).filter((t) => t.from.includes(a.label) && t.to.includes(b.label));
    if (!types.length) {
      setMessage(`No relation type goes from ${labelOf(a.label)?.name ?? a.label} to ${labelOf(b.label)?.name ?? b.label}.`);
      setRelFrom(null);
      return;
    }
    const t = type ? types.find((x) => x.id === type) : types.length === 1 ? types[0] : undefined;
    if (!t) {
      setTypePick({ from, to, types });
      return;
    }
    const id = nextId('R', [...v.relations.map((r) => r.id), ...v.spans.map((s) => s.id)]);
    change((x) => ({ ...x, relations: [...x.relations, { id, type: t.id, from, to, source: 'manual' }] }));
    setRelFrom(null);
    setTypePick(null);
    setMessage(null);
  }, [schema.relation_types, labelOf, change]);

  const removeRelation = useCallback((id: string) => change((v) => ({ ...v, relations: v.relations.filter((r) => r.id !== id) })), [change]);

  const setSentenceAnswer = useCallback((question: string, range: Range, answers: string[]) => {
    change((v) => {
      const rest = v.classifications.filter((c) => !(c.question === question && c.sentence?.start === range.start && c.sentence?.end === range.end));
      return { ...v, classifications: answers.length ? [...rest, { question, answers, sentence: range }] : rest };
    });
  }, [change]);

  const pending = value.spans.filter((s) => s.source === 'suggested' && (s.state ?? 'pending') === 'pending').length + value.relations.filter(isPendingRelation).length;

  return {
    task, note, error, offsets, value, readOnly, blocks, suggestions, selected, select, sel, setSel, sentence, relFrom, setRelFrom, typePick, message, pending, noteRef, codeInput,
    create, relabel, setAssertion: (id, a) => update(id, { assertion: a }),
    addCode: (id, c) => {
      const s = latest.current.spans.find((x) => x.id === id);
      if (s && !(s.codes ?? []).some((x) => x.system === c.system && x.code === c.code)) update(id, { codes: [...(s.codes ?? []), c] });
    },
    removeCode: (id, i) => {
      const s = latest.current.spans.find((x) => x.id === id);
      if (s) update(id, { codes: (s.codes ?? []).filter((_, k) => k !== i) });
    },
    setBounds, accept, reject, restore, decideAll, relate, removeRelation, decideRelation, setSentenceAnswer, labelOf, spanText, colorOf,
  };
}

// -- keyboard ------------------------------------------------------------------------------

export function labelKey(l: Schemas['LabelDef'], i: number): string {
  return l.hotkey || (i < 9 ? String(i + 1) : '');
}

function useShift() {
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

/** Places the DOM selection over UTF-16 `[a, f)` of the note (shows the keyboard cursor). */
function showSelection(root: HTMLElement, blocks: BlockData[], a: number, f: number) {
  const locate = (u: number): [Node, number] | null => {
    let lo = 0, hi = blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (blocks[mid]!.start <= u) lo = mid;
      else hi = mid - 1;
    }
    const el = root.querySelector(`.nb[data-s="${blocks[lo]?.start ?? 0}"]`);
    if (!el) return null;
    const segs = el.children;
    for (let i = segs.length - 1; i >= 0; i--) {
      const s = Number((segs[i] as HTMLElement).dataset['s']);
      if (s <= u) {
        const t = segs[i]!.firstChild;
        return t ? [t, Math.min(u - s, t.textContent?.length ?? 0)] : null;
      }
    }
    return null;
  };
  const x = locate(a), y = locate(f);
  const s = window.getSelection();
  if (!x || !y || !s) return;
  s.setBaseAndExtent(x[0], x[1], y[0], y[1]);
  (y[0].parentElement as HTMLElement | null)?.scrollIntoView({ block: 'nearest' });
}

/** UTF-16 offset of a DOM position inside the note, or null. */
function unitAt(node: Node, offset: number): number | null {
  if (node.nodeType === Node.TEXT_NODE) {
    const seg = node.parentElement?.closest<HTMLElement>('.seg');
    return seg ? Number(seg.dataset['s']) + offset : null;
  }
  const el = node as HTMLElement;
  if (el.classList?.contains('seg')) return Number(el.dataset['s']) + (offset === 0 ? 0 : (el.textContent?.length ?? 0));
  if (el.classList?.contains('nb') || el.classList?.contains('nl')) {
    const child = el.children[offset] as HTMLElement | undefined;
    return child ? Number(child.dataset['s']) : Number(el.dataset['e']);
  }
  return null;
}

/** The note's keyboard shortcuts (registered while `active`). */
export function useTextShortcuts(tw: TextWorkspace, active: boolean) {
  const shift = useShift();
  const { note, blocks, value, selected } = tw;
  const labels = tw.task.schema.entity_types ?? [];
  const assertions = (tw.task.schema.assertion_values ?? []) as Assertion[];
  const ordered = useMemo(() => [...value.spans].filter((s) => s.state !== 'rejected').sort((a, b) => a.start - b.start || b.end - a.end), [value.spans]);
  const move = (d: 1 | -1, extend: boolean) => {
    if (note === null || !tw.noteRef.current) return;
    const cur = tw.sel ?? { a: 0, f: 0 };
    let u = cur.f;
    const w = (i: number) => i >= 0 && i < note.length && WORD.test(note[i]!);
    if (d > 0) {
      if (extend) {
        while (u < note.length && !w(u)) u++;
        while (u < note.length && w(u)) u++;
      } else {
        while (u < note.length && w(u)) u++;
        while (u < note.length && !w(u)) u++;
      }
    } else {
      while (u > 0 && !w(u - 1)) u--;
      while (u > 0 && w(u - 1)) u--;
    }
    const next = { a: extend ? cur.a : u, f: u };
    tw.setSel(next);
    showSelection(tw.noteRef.current, blocks, Math.min(next.a, next.f), Math.max(next.a, next.f));
  };
  const step = (d: 1 | -1, onlyPending: boolean) => {
    const list = onlyPending ? ordered.filter((s) => s.source === 'suggested' && (s.state ?? 'pending') === 'pending') : ordered;
    if (!list.length) return;
    const i = list.findIndex((s) => s.id === selected);
    const at = tw.offsets && tw.sel ? tw.offsets.chars_(tw.sel.f) : -1;
    const j = i >= 0 ? (i + d + list.length) % list.length : d > 0 ? Math.max(0, list.findIndex((s) => s.start >= at)) : list.length - 1;
    tw.select(list[j]!.id);
  };
  const sel = value.spans.find((s) => s.id === selected);
  const list: Shortcut[] = !active || tw.readOnly
    ? active && tw.readOnly
      ? [
          { keys: ']', description: 'Next span', run: () => step(1, false) },
          { keys: '[', description: 'Previous span', run: () => step(-1, false) },
        ]
      : []
    : tw.typePick
      ? tw.typePick.types.slice(0, 9).map((t, i) => ({ keys: String(i + 1), description: `Relation type: ${t.name}`, run: () => tw.relate(tw.typePick!.from, tw.typePick!.to, t.id) }))
      : [
          ...labels.map((l, i) => ({ keys: labelKey(l, i), description: `Label the selection ${l.name}`, run: () => tw.create(l.id) })).filter((s) => s.keys),
          { keys: 'ArrowRight', description: 'Next word (Shift: extend the selection)', run: () => move(1, shift.current) },
          { keys: 'ArrowLeft', description: 'Previous word (Shift: extend the selection)', run: () => move(-1, shift.current) },
          { keys: ']', description: 'Next span', run: () => step(1, false) },
          { keys: '[', description: 'Previous span', run: () => step(-1, false) },
          { keys: '}', description: 'Next pending suggestion', run: () => step(1, true) },
          { keys: '{', description: 'Previous pending suggestion', run: () => step(-1, true) },
          { keys: 'y', description: 'Accept the selected suggestion', run: () => selected && tw.accept(selected) },
          { keys: 'Y', description: 'Accept every pending suggestion', run: () => tw.decideAll(true) },
          { keys: 'x', description: 'Reject the selected suggestion / delete the selected span', run: () => selected && tw.reject(selected) },
          { keys: 'X', description: 'Reject every pending suggestion', run: () => tw.decideAll(false) },
          ...(assertions.length
            ? [
                { keys: 'v', description: 'Next assertion status', run: () => sel && tw.setAssertion(sel.id, assertions[(assertions.indexOf((sel.assertion ?? assertions[assertions.length - 1]) as Assertion) + 1) % assertions.length]!) },
                { keys: 'V', description: 'Previous assertion status', run: () => sel && tw.setAssertion(sel.id, assertions[(Math.max(0, assertions.indexOf((sel.assertion ?? assertions[0]) as Assertion)) - 1 + assertions.length) % assertions.length]!) },
              ]
            : []),
          { keys: 'c', description: 'Search a code for the selected span', run: () => tw.codeInput.current?.focus() },
          { keys: 'b', description: 'Set the selected span to the selected text', run: () => selected && tw.setBounds(selected) },
          {
            keys: 'r',
            description: 'Relate: from the selected span, then to the next one you select',
            run: () => {
              if (!selected) return;
              if (tw.relFrom && tw.relFrom !== selected) tw.relate(tw.relFrom, selected);
              else tw.setRelFrom(tw.relFrom ? null : selected);
            },
          },
          ...(tw.relFrom ? [{ keys: 'Enter', description: 'Relate to the selected span', run: () => selected && tw.relFrom && tw.relate(tw.relFrom, selected) }] : []),
        ].filter((s, i, all) => all.findIndex((x) => x.keys === s.keys) === i);
  useShortcuts(list);
}

// -- the note ------------------------------------------------------------------------------------

/** The note with its spans and relation arrows. */
export function NotePanel({ tw, onFocus }: { tw: TextWorkspace; onFocus?: () => void }) {
  const { note, blocks, error, value, noteRef } = tw;
  const [arrows, setArrows] = useState<{ id: string; from: string; to: string; dashed: boolean; d: string; x: number; y: number; name: string; color: string }[]>([]);
  const [height, setHeight] = useState(0);
  const relTypes = tw.task.schema.relation_types ?? [];
  // Lines: one block each, or several for a very long line.
  const lines = useMemo(() => {
    const out: BlockData[][] = [];
    for (const b of blocks) {
      if (b.cont && out.length) out[out.length - 1]!.push(b);
      else out.push([b]);
    }
    return out;
  }, [blocks]);
  // Arrow geometry is measured only when spans or relations change (never per cursor move),
  // and not at all without relations: measuring forces a layout of the whole note.
  const layout = useCallback(() => {
    const root = noteRef.current;
    if (!root || !value.relations.length) {
      setArrows((a) => (a.length ? [] : a));
      return;
    }
    const box = root.getBoundingClientRect();
    const pos = (id: string) => {
      const el = root.querySelector(`[data-first~="${CSS.escape(id)}"]`);
      if (!el) return null;
      const r = (el as HTMLElement).getClientRects()[0] ?? el.getBoundingClientRect();
      return { x: r.left - box.left + root.scrollLeft + Math.min(r.width / 2, 24), y: r.top - box.top + root.scrollTop };
    };
    const out: typeof arrows = [];
    for (const r of value.relations) {
      if (r.state === 'rejected') continue;
      const a = pos(r.from), b = pos(r.to);
      if (!a || !b) continue;
      const h = 14 + Math.min(36, Math.abs(b.x - a.x) / 10 + Math.abs(b.y - a.y) / 6);
      const top = Math.min(a.y, b.y) - h;
      const ti = relTypes.findIndex((t) => t.id === r.type);
      out.push({ id: r.id, from: r.from, to: r.to, dashed: isPendingRelation(r), d: `M ${a.x} ${a.y} C ${a.x} ${top} ${b.x} ${top} ${b.x} ${b.y - 2}`, x: (a.x + b.x) / 2, y: top + h / 4, name: relTypes[ti]?.name ?? r.type, color: PALETTE[(ti + 3) % PALETTE.length]! });
    }
    setArrows(out);
  }, [noteRef, value.relations, relTypes]);
  useLayoutEffect(layout, [layout, value.spans, note]);
  useEffect(() => {
    const root = noteRef.current;
    const body = root?.querySelector('.note-body');
    if (!root || !body) return;
    const ro = new ResizeObserver((entries) => {
      const h = Math.ceil(entries[0]?.contentRect.height ?? 0);
      setHeight((x) => (x === h ? x : h));
      layout();
    });
    ro.observe(body);
    return () => ro.disconnect();
  }, [noteRef, layout, note]);

  const onMouseUp = (e: React.MouseEvent) => {
    onFocus?.();
    const s = window.getSelection();
    if (!s || !s.anchorNode || !s.focusNode) return;
    const a = unitAt(s.anchorNode, s.anchorOffset), f = unitAt(s.focusNode, s.focusOffset);
    if (a === null || f === null) return;
    tw.setSel({ a, f });
    if (a === f) {
      const top = (e.target as HTMLElement).closest<HTMLElement>('.seg.on')?.dataset['top'];
      if (top) {
        if (tw.relFrom && top !== tw.relFrom && !tw.readOnly) tw.relate(tw.relFrom, top);
        tw.select(top, false);
      } else tw.select(null);
    }
  };

  if (error) return <p className="notice" role="alert" data-testid="note-error">{error}</p>;
  if (note === null) return <p aria-busy="true">Loading the note…</p>;
  return (
    <div className="note" ref={noteRef} tabIndex={0} onMouseUp={onMouseUp} onFocus={onFocus} data-testid="note" data-chars={tw.offsets?.chars} aria-label="The note: select text to mark a span" role="document">
      <div className="note-body">
        {lines.map((l) => (
          <div key={l[0]!.i} className="nl" data-s={l[0]!.start} data-e={l[l.length - 1]!.end}>
            {l.map((b) => (
              <Block key={b.i} b={b} />
            ))}
          </div>
        ))}
      </div>
      <svg className="note-arrows" style={{ height }} aria-hidden="true">
        <defs>
          {PALETTE.map((c, i) => (
            <marker key={i} id={`arrow-${i}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill={c} />
            </marker>
          ))}
        </defs>
        {arrows.map((a) => {
          const on = tw.selected === a.from || tw.selected === a.to;
          return (
          <g key={a.id} data-relation={a.id} className={on ? 'sel' : undefined}>
            <path d={a.d} fill="none" stroke={a.color} strokeWidth={on ? 2.5 : 1.5} strokeDasharray={a.dashed ? '5 4' : undefined} markerEnd={`url(#arrow-${PALETTE.indexOf(a.color)})`} />
            <text x={a.x} y={a.y} textAnchor="middle" fill={a.color}>{a.name}</text>
          </g>
          );
        })}
      </svg>
    </div>
  );
}

// -- the side panel --------------------------------------------------------------------------------

type FeedbackItem = { c: Schemas['Comment']; r: Schemas['ReviewView'] };

/** Rows of the span list shown on each side of the selected span when the list is long. */
const LIST_WINDOW = 100;

/** Reviewers' comments by anchor (`span:<id>`, `relation:<id>`). */
export function anchoredFeedback(reviews: Schemas['ReviewView'][], kind: 'span' | 'relation'): Record<string, FeedbackItem[]> {
  const out: Record<string, FeedbackItem[]> = {};
  for (const r of reviews) for (const c of r.comments) if (c.anchor.startsWith(`${kind}:`)) (out[c.anchor.slice(kind.length + 1)] ??= []).push({ c, r });
  return out;
}

/** Type-ahead search in one code system; picks go to `onPick` with the release version. */
export function CodePicker({ system, candidates, onPick, onEscape, inputRef }: { system: string; candidates: TCode[]; onPick: (c: TCode) => void; onEscape?: () => void; inputRef: React.RefObject<HTMLInputElement | null> }) {
  const [q, setQ] = useState('');
  const [res, setRes] = useState<{ version: string; results: Schemas['SearchHit'][] } | null>(null);
  const [i, setI] = useState(0);
  const [err, setErr] = useState<string | null>(null);
  const seq = useRef(0);
  useEffect(() => {
    if (!q.trim()) {
      setRes(null);
      return;
    }
    const n = ++seq.current;
    const t = setTimeout(() => {
      call('get', '/terminology/{system}/search', { path: { system }, query: { q, limit: 10 } }).then(
        (r) => {
          if (n !== seq.current) return;
          setRes({ version: r.version, results: r.results });
          setI(0);
          setErr(null);
        },
        (e: unknown) => n === seq.current && setErr(e instanceof Error ? e.message : String(e)),
      );
    }, 100);
    return () => clearTimeout(t);
  }, [q, system]);
  const pick = (h: Schemas['SearchHit']) => {
    onPick({ system, code: h.code, display: h.display, version: res?.version ?? null });
    setQ('');
    setRes(null);
  };
  return (
    <div className="code-picker" data-testid="code-picker">
      {candidates.length ? (
        <p className="muted">
          Suggested:{' '}
          {candidates.slice(0, 5).map((c) => (
            <button key={c.code} type="button" className="chip" onClick={() => onPick(c)} title={c.display ?? ''}>
              {c.code}
            </button>
          ))}
        </p>
      ) : null}
      <label className="field">
        <span>Search {system.toUpperCase()} <kbd>c</kbd></span>
        <input
          ref={inputRef}
          role="combobox"
          aria-expanded={!!res?.results.length}
          aria-controls="code-results"
          aria-autocomplete="list"
          value={q}
          placeholder="code or words"
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') {
              e.preventDefault();
              setI((x) => Math.min(x + 1, (res?.results.length ?? 1) - 1));
            } else if (e.key === 'ArrowUp') {
              e.preventDefault();
              setI((x) => Math.max(0, x - 1));
            } else if (e.key === 'Enter') {
              e.preventDefault();
              const h = res?.results[i];
              if (h) pick(h);
            } else if (e.key === 'Escape') {
              setQ('');
              e.currentTarget.blur();
              onEscape?.();
            }
          }}
        />
      </label>
      {err ? <p className="error">{err}</p> : null}
      {res ? (
        <ul id="code-results" role="listbox" className="code-results" data-testid="code-results">
          {res.results.length === 0 ? <li className="muted">No match in {res.version}.</li> : null}
          {res.results.map((h, k) => (
            <li key={h.code} role="option" aria-selected={k === i} className={k === i ? 'active' : undefined} onMouseDown={(e) => (e.preventDefault(), pick(h))}>
              <code>{h.code}</code> {h.display}
              {h.billable === false ? <span className="muted"> (not billable)</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function stateName(s: TSpan): string {
  if (s.source !== 'suggested') return '';
  return { pending: 'suggested', accepted: 'accepted suggestion', edited: 'edited suggestion', rejected: 'rejected suggestion' }[s.state ?? 'pending'];
}

/** The selected span: label, assertion, codes, decision on a suggestion. */
function SpanEditor({ tw, s }: { tw: TextWorkspace; s: TSpan }) {
  const labels = tw.task.schema.entity_types ?? [];
  const assertions = (tw.task.schema.assertion_values ?? []) as Assertion[];
  const def = tw.labelOf(s.label);
  const system = def?.code_system ?? null;
  const pending = s.source === 'suggested' && (s.state ?? 'pending') === 'pending';
  return (
    <div className="span-editor" data-testid="span-editor" data-span-id={s.id}>
      <p>
        <strong>“{tw.spanText(s)}”</strong> <span className="muted">chars {s.start}–{s.end}{stateName(s) ? ` · ${stateName(s)}` : ''}{s.source === 'suggested' && tw.suggestions?.origins[s.id] ? <span data-testid="span-origin"> · from {ORIGIN_NAMES[tw.suggestions.origins[s.id]!]}</span> : null}</span>
      </p>
      {s.source === 'suggested' && s.state !== 'rejected' ? (
        <div className="form-actions">
          {pending ? <button type="button" className="primary" onClick={() => tw.accept(s.id)}>Accept <kbd>y</kbd></button> : null}
          <button type="button" className="danger" onClick={() => tw.reject(s.id)}>Reject <kbd>x</kbd></button>
        </div>
      ) : null}
      {s.state === 'rejected' ? <button type="button" onClick={() => tw.restore(s.id)}>Undo the rejection</button> : null}
      {s.state !== 'rejected' ? (
        <>
          <div className="options" role="radiogroup" aria-label="Entity type">
            {labels.map((l, i) => (
              <button key={l.id} type="button" role="radio" aria-checked={s.label === l.id} className={`option${s.label === l.id ? ' chosen' : ''}`} onClick={() => tw.relabel(s.id, l.id)}>
                {labelKey(l, i) ? <kbd>{labelKey(l, i)}</kbd> : null}
                {l.name}
              </button>
            ))}
          </div>
          {assertions.length ? (
            <div className="options" role="radiogroup" aria-label="Assertion status" data-testid="assertion">
              {assertions.map((a) => (
                <button key={a} type="button" role="radio" aria-checked={s.assertion === a} className={`option${s.assertion === a ? ' chosen' : ''}`} onClick={() => tw.setAssertion(s.id, s.assertion === a ? null : a)}>
                  {ASSERTION_NAMES[a] ?? a}
                </button>
              ))}
              <span className="muted"><kbd>v</kbd>/<kbd>V</kbd></span>
            </div>
          ) : null}
          {system ? (
            <>
              <ul className="codes" data-testid="codes" aria-label="Codes">
                {(s.codes ?? []).map((c, i) => (
                  <li key={`${c.system}:${c.code}`}>
                    <code>{c.code}</code> {c.display} <span className="muted">({c.system} {c.version})</span>{' '}
                    <button type="button" className="link danger" aria-label={`Remove code ${c.code}`} onClick={() => tw.removeCode(s.id, i)}>remove</button>
                  </li>
                ))}
              </ul>
              <CodePicker
                system={system}
                candidates={tw.suggestions?.candidates[s.id] ?? []}
                onPick={(c) => {
                  tw.addCode(s.id, c);
                  // Back to the note, keyboard-first.
                  tw.noteRef.current?.focus({ preventScroll: true });
                }}
                onEscape={() => tw.noteRef.current?.focus({ preventScroll: true })}
                inputRef={tw.codeInput}
              />
            </>
          ) : null}
          <div className="form-actions">
            <button type="button" onClick={() => tw.setRelFrom(tw.relFrom === s.id ? null : s.id)} aria-pressed={tw.relFrom === s.id}>
              Relate to… <kbd>r</kbd>
            </button>
            <button type="button" onClick={() => tw.setBounds(s.id)}>Set to the selection <kbd>b</kbd></button>
            {s.source !== 'suggested' ? <button type="button" className="danger" onClick={() => tw.reject(s.id)}>Delete <kbd>x</kbd></button> : null}
          </div>
        </>
      ) : null}
    </div>
  );
}

function Feedback({ items }: { items: FeedbackItem[] }) {
  return (
    <ul className="feedback" aria-label="Reviewers' comments" data-testid="feedback">
      {items.map(({ c, r }, i) => (
        <li key={i} className={`feedback-${r.decision}`}>
          <strong>{r.reviewer}</strong> <span className="muted">({r.decision})</span>: {c.text}
        </li>
      ))}
    </ul>
  );
}

const SpanRow = memo(function SpanRow({ s, text, name, color, selected, onSelect, feedback, comment, onComment }: { s: TSpan; text: string; name: string; color: string; selected: boolean; onSelect: (id: string) => void; feedback?: FeedbackItem[]; comment?: string; onComment?: (id: string, t: string) => void }) {
  return (
    <li data-testid="span" data-span-id={s.id} data-state={s.state ?? s.source ?? 'manual'} aria-current={selected ? 'true' : undefined} className={`${selected ? 'selected' : ''}${s.state === 'rejected' ? ' rejected' : ''}`}>
      <button type="button" className="link" onClick={() => onSelect(s.id)}>
        <span className="swatch" style={{ background: color }} />
        {name} · “{text.length > 60 ? `${text.slice(0, 57)}…` : text}”
      </button>{' '}
      <span className="muted">
        {s.assertion ? ASSERTION_NAMES[s.assertion] : ''}
        {(s.codes ?? []).length ? ` · ${(s.codes ?? []).map((c) => c.code).join(', ')}` : ''}
        {stateName(s) ? ` · ${stateName(s)}` : ''}
      </span>
      {feedback?.length ? <Feedback items={feedback} /> : null}
      {onComment ? (
        <label className="comment">
          <span>Comment on this span</span>
          <textarea rows={1} value={comment ?? ''} onFocus={() => onSelect(s.id)} onChange={(e) => onComment(s.id, e.target.value)} />
        </label>
      ) : null}
    </li>
  );
});

/** Spans, relations, the selected span's editor and the current sentence's questions. */
export function TextSidePanel({ tw, feedback, comments, onComment, sentenceQuestions }: {
  tw: TextWorkspace;
  feedback: { spans: Record<string, FeedbackItem[]>; relations: Record<string, FeedbackItem[]> };
  comments?: Record<string, string>;
  onComment?: (anchor: string, text: string) => void;
  sentenceQuestions?: ReactNode;
}) {
  const { value, selected } = tw;
  const sel = value.spans.find((s) => s.id === selected);
  const ordered = useMemo(() => [...value.spans].sort((a, b) => a.start - b.start || b.end - a.end), [value.spans]);
  const all = tw.readOnly ? ordered.filter((s) => s.state !== 'rejected') : ordered;
  // A long list (thousands of suggestions on a long note) shows a window around the selected span.
  const at = Math.max(0, all.findIndex((s) => s.id === selected));
  const from = all.length > 2 * LIST_WINDOW ? Math.max(0, Math.min(at - LIST_WINDOW, all.length - 2 * LIST_WINDOW)) : 0;
  const shown = all.length > 2 * LIST_WINDOW ? all.slice(from, from + 2 * LIST_WINDOW) : all;
  const onSelect = useCallback((id: string) => tw.select(id), [tw.select]);
  const onSpanComment = useCallback((id: string, t: string) => onComment?.(`span:${id}`, t), [onComment]);
  const relTypes = tw.task.schema.relation_types ?? [];
  const spanName = (id: string) => {
    const s = value.spans.find((x) => x.id === id);
    return s ? `“${tw.spanText(s)}”` : id;
  };
  return (
    <div className="text-panel" data-testid="text-panel">
      {tw.message ? <p className="notice" role="status" data-testid="text-message">{tw.message}</p> : null}
      {!tw.readOnly && tw.pending ? (
        <p className="notice" data-testid="pending-count">
          {tw.pending} suggestion{tw.pending === 1 ? '' : 's'} to decide: <kbd>{'}'}</kbd> next, <kbd>y</kbd> accept, <kbd>x</kbd> reject, <kbd>Y</kbd>/<kbd>X</kbd> all.{' '}
          <button type="button" className="link" onClick={() => tw.decideAll(true)}>accept all</button>{' '}
          <button type="button" className="link" onClick={() => tw.decideAll(false)}>reject all</button>
        </p>
      ) : null}
      {tw.relFrom ? (
        <p className="notice" data-testid="relating">
          Relating {spanName(tw.relFrom)} → select the target span (click it, or <kbd>]</kbd>/<kbd>[</kbd>), then <kbd>r</kbd>.{' '}
          <button type="button" className="link" onClick={() => tw.setRelFrom(null)}>cancel</button>
        </p>
      ) : null}
      {tw.typePick ? (
        <div className="notice" data-testid="relation-types">
          Relation type:{' '}
          {tw.typePick.types.map((t, i) => (
            <button key={t.id} type="button" onClick={() => tw.relate(tw.typePick!.from, tw.typePick!.to, t.id)}>
              <kbd>{i + 1}</kbd>
              {t.name}
            </button>
          ))}
        </div>
      ) : null}
      {!tw.readOnly && sel ? <SpanEditor tw={tw} s={sel} /> : null}
      <h3>Spans ({all.filter((s) => s.state !== 'rejected').length})</h3>
      {all.length === 0 ? <p className="muted" data-testid="no-spans">No spans yet: select text in the note and press a label's key.</p> : null}
      {from > 0 ? <p className="muted">… {from} earlier (<kbd>[</kbd> to go back)</p> : null}
      <ul className="span-list" data-testid="span-list">
        {shown.map((s) => (
          <SpanRow key={s.id} s={s} text={tw.spanText(s)} name={tw.labelOf(s.label)?.name ?? s.label} color={tw.colorOf(s.label)} selected={s.id === selected} onSelect={onSelect} feedback={feedback.spans[s.id]} comment={comments?.[`span:${s.id}`]} onComment={onComment ? onSpanComment : undefined} />
        ))}
      </ul>
      {from + shown.length < all.length ? <p className="muted">… {all.length - from - shown.length} later (<kbd>]</kbd> to go on)</p> : null}
      {relTypes.length ? (
        <>
          <h3>Relations ({value.relations.filter((r) => r.state !== 'rejected').length})</h3>
          <ul className="relation-list" data-testid="relation-list">
            {value.relations.map((r) => (
              <li key={r.id} data-testid="relation" data-relation-id={r.id} data-state={r.state ?? r.source ?? 'manual'} className={r.state === 'rejected' ? 'rejected' : undefined}>
                {spanName(r.from)} <strong>{relTypes.find((t) => t.id === r.type)?.name ?? r.type}</strong> → {spanName(r.to)}
                {r.source === 'suggested' ? <span className="muted"> · {r.state && r.state !== 'pending' ? `${r.state} suggestion` : 'suggested'}{tw.suggestions?.origins[r.id] ? ` from ${ORIGIN_NAMES[tw.suggestions.origins[r.id]!]}` : ''}</span> : null}
                {!tw.readOnly && isPendingRelation(r) ? (
                  <>
                    {' '}<button type="button" className="link" aria-label={`Accept relation ${r.id}`} onClick={() => tw.decideRelation(r.id, true)}>accept</button>{' '}
                    <button type="button" className="link danger" aria-label={`Reject relation ${r.id}`} onClick={() => tw.decideRelation(r.id, false)}>reject</button>
                  </>
                ) : !tw.readOnly && r.source !== 'suggested' ? <> <button type="button" className="link danger" aria-label={`Delete relation ${r.id}`} onClick={() => tw.removeRelation(r.id)}>delete</button></> : null}
                {feedback.relations[r.id]?.length ? <Feedback items={feedback.relations[r.id]!} /> : null}
                {onComment ? (
                  <label className="comment">
                    <span>Comment on this relation</span>
                    <textarea rows={1} value={comments?.[`relation:${r.id}`] ?? ''} onChange={(e) => onComment(`relation:${r.id}`, e.target.value)} />
                  </label>
                ) : null}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {sentenceQuestions}
    </div>
  );
}

/** The sentence-level questions for the current sentence. */
export function SentenceQuestions({ tw, questions, focusedIndex, onFocus }: { tw: TextWorkspace; questions: Schemas['Question'][]; focusedIndex?: number; onFocus?: (i: number) => void }) {
  const s = tw.sentence;
  if (!questions.length) return null;
  if (!s) return <p className="muted">No sentence selected.</p>;
  const text = tw.note && tw.offsets ? tw.note.slice(tw.offsets.units_(s.start), tw.offsets.units_(s.end)) : '';
  const answers = (q: string) => tw.value.classifications.find((c) => c.question === q && c.sentence?.start === s.start && c.sentence?.end === s.end)?.answers ?? [];
  const answered = tw.value.classifications.filter((c) => c.sentence).length;
  return (
    <section className="sentence-questions" data-testid="sentence-questions" aria-label="Sentence questions">
      <h3>This sentence <span className="muted">({answered} sentence answer{answered === 1 ? '' : 's'} in the note)</span></h3>
      <blockquote data-testid="current-sentence">{text.length > 240 ? `${text.slice(0, 237)}…` : text}</blockquote>
      {questions.map((q, qi) => (
        <div key={q.id} className={`question${focusedIndex === qi ? ' focused' : ''}`} data-testid={`sentence-question-${q.id}`} onClick={() => onFocus?.(qi)}>
          <h4>{q.text}</h4>
          <div className="options">
            {q.options.map((o) => {
              const on = answers(q.id).includes(o.id);
              return (
                <button
                  key={o.id}
                  type="button"
                  role={q.kind === 'multiple' ? 'checkbox' : 'radio'}
                  aria-checked={on}
                  className={`option${on ? ' chosen' : ''}`}
                  disabled={tw.readOnly}
                  onClick={() => {
                    const cur = answers(q.id);
                    tw.setSentenceAnswer(q.id, s, q.kind === 'multiple' ? (on ? cur.filter((x) => x !== o.id) : [...cur, o.id]) : on ? [] : [o.id]);
                  }}
                >
                  {o.name}
                </button>
              );
            })}
          </div>
        </div>
      ))}
    </section>
  );
}
