// The image workspace: a DICOM series (or a PNG/JPEG image) on a canvas with
// window/level, pan, zoom, frame scrolling and measurements in millimetres,
// and the drawing tools of the project's schema — 2D and 3D boxes, polygon,
// freehand and spline outlines, brush and eraser on label maps, keypoints —
// each stored in image coordinates (pixel column/row + frame), editable after
// drawing (select, move, drag a vertex or a box corner), with undo/redo.
//
// Frames come from the frame service (`/tasks/{id}/series`, `/tasks/{id}/frames/{n}`)
// as raw little-endian stored values and go through a lookup table built for
// the current window (PS3.3 C.11.2.1.2, linear), so a window change is one
// pass over the frame's pixels.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent as RKeyboardEvent, type PointerEvent as RPointerEvent, type WheelEvent as RWheelEvent } from 'react';
import type { Schemas, TaskView } from '../../api/client';
import { useUndo } from '../../kit/undo';
import { useShortcuts, type Shortcut } from '../../kit/shortcuts';

// -- the annotation (mirrors clinlabel_domain::imaging) ------------------------------------

type Pt = [number, number];
export type Shape =
  | { id: string; label: string; tool: 'bounding_box_2d'; frame: number; x0: number; y0: number; x1: number; y1: number }
  | { id: string; label: string; tool: 'bounding_box_3d'; frames: [number, number]; x0: number; y0: number; x1: number; y1: number }
  | { id: string; label: string; tool: 'polygon' | 'freehand'; frame: number; points: Pt[] }
  | { id: string; label: string; tool: 'spline'; frame: number; control_points: Pt[] }
  | { id: string; label: string; tool: 'keypoints'; frame: number; points: (Pt | null)[] };
export interface MaskFrame { frame: number; label: string; instance: number; rows: number; columns: number; rle: number[] }
export interface ImageAnnotation { shapes: Shape[]; masks: MaskFrame[]; frame_answers: Record<string, Record<string, string[]>> }
export const emptyImage = (): ImageAnnotation => ({ shapes: [], masks: [], frame_answers: {} });

export function imageOf(body: unknown): ImageAnnotation {
  const img = (body as { image?: Partial<ImageAnnotation> } | undefined)?.image;
  return { shapes: img?.shapes ? structuredClone(img.shapes) : [], masks: img?.masks ? structuredClone(img.masks) : [], frame_answers: img?.frame_answers ? structuredClone(img.frame_answers) : {} };
}

export function isImaging(task: TaskView): boolean {
  return task.item_kind === 'dicom_series' || task.item_kind === 'image';
}

function shapeFrames(s: Shape): [number, number] {
  return s.tool === 'bounding_box_3d' ? s.frames : [s.frame, s.frame];
}

/** Closed centripetal Catmull-Rom through the control points: the server's `spline_polygon` with its SPLINE_POINTS_PER_SEGMENT. */
export function splinePolygon(c: Pt[], per = 16): Pt[] {
  const n = c.length;
  if (n < 3) return c;
  const out: Pt[] = [];
  const knot = (a: Pt, b: Pt) => Math.max(Math.sqrt(Math.hypot(b[0] - a[0], b[1] - a[1])), 1e-9);
  for (let i = 0; i < n; i++) {
    const p0 = c[(i + n - 1) % n]!, p1 = c[i]!, p2 = c[(i + 1) % n]!, p3 = c[(i + 2) % n]!;
    const t0 = 0, t1 = t0 + knot(p0, p1), t2 = t1 + knot(p1, p2), t3 = t2 + knot(p2, p3);
    for (let k = 0; k < per; k++) {
      const t = t1 + ((t2 - t1) * k) / per;
      const lerp = (a: Pt, b: Pt, ta: number, tb: number): Pt => {
        const wa = (tb - t) / (tb - ta), wb = (t - ta) / (tb - ta);
        return [wa * a[0] + wb * b[0], wa * a[1] + wb * b[1]];
      };
      const a1 = lerp(p0, p1, t0, t1), a2 = lerp(p1, p2, t1, t2), a3 = lerp(p2, p3, t2, t3);
      out.push(lerp(lerp(a1, a2, t0, t2), lerp(a2, a3, t1, t3), t1, t2));
    }
  }
  return out;
}

function rleEncode(mask: Uint8Array): number[] {
  const runs: number[] = [];
  let cur = 0, n = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 1 : 0;
    if (v === cur) n++;
    else {
      runs.push(n);
      cur = v;
      n = 1;
    }
  }
  runs.push(n);
  return runs;
}
function rleDecode(m: MaskFrame): Uint8Array {
  const out = new Uint8Array(m.rows * m.columns);
  let at = 0;
  m.rle.forEach((n, i) => {
    if (i % 2) out.fill(1, at, at + n);
    at += n;
  });
  return out;
}

// -- frames --------------------------------------------------------------------------------

type SeriesView = {
  item_id: string;
  modality?: string | null;
  frames: { rows: number; columns: number; samples_per_pixel: number; dtype: string; photometric: string; rescale_slope: number; rescale_intercept: number; windows: { center: number; width: number }[]; pixel_spacing?: [number, number] | null; image_position?: [number, number, number] | null }[];
};
type Pixels = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Uint8ClampedArray;
interface Loaded { data: Pixels; rows: number; columns: number; spp: number; min: number; max: number }

function typed(buf: ArrayBuffer, dtype: string): Pixels {
  switch (dtype) {
    case 'int8': return new Int8Array(buf);
    case 'uint16': return new Uint16Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'uint32': return new Uint32Array(buf);
    case 'int32': return new Int32Array(buf);
    default: return new Uint8Array(buf);
  }
}

function range(d: Pixels, spp: number): [number, number] {
  if (spp !== 1) return [0, 255];
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export interface Win { center: number; width: number }

/** Writes the frame through the window into `out` (RGBA). Returns the milliseconds it took. */
export function renderFrame(f: Loaded, w: Win, slope: number, intercept: number, invert: boolean, out: Uint8ClampedArray): number {
  const t0 = performance.now();
  const n = f.rows * f.columns;
  if (f.spp === 1) {
    // A table over every stored value between the frame's min and max.
    const size = f.max - f.min + 1;
    const lut = new Uint8ClampedArray(size);
    const c = w.center - 0.5, width = Math.max(w.width, 1) - 1, lo = c - width / 2, hi = c + width / 2;
    for (let i = 0; i < size; i++) {
      const x = (i + f.min) * slope + intercept;
      const y = x <= lo ? 0 : x > hi ? 255 : ((x - c) / Math.max(width, 1e-9) + 0.5) * 255;
      lut[i] = invert ? 255 - y : y;
    }
    const d = f.data, min = f.min;
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      const g = lut[d[i]! - min]!;
      out[o] = g;
      out[o + 1] = g;
      out[o + 2] = g;
      out[o + 3] = 255;
    }
  } else {
    const d = f.data, s = f.spp;
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      out[o] = d[i * s]!;
      out[o + 1] = d[i * s + 1]!;
      out[o + 2] = d[i * s + 2]!;
      out[o + 3] = 255;
    }
  }
  return performance.now() - t0;
}

const PRESETS: { name: string; key: string; w: Win }[] = [
  { name: 'CT brain', key: 'brain', w: { center: 40, width: 80 } },
  { name: 'Lung', key: 'lung', w: { center: -600, width: 1500 } },
  { name: 'Bone', key: 'bone', w: { center: 400, width: 1800 } },
  { name: 'Abdomen', key: 'abdomen', w: { center: 40, width: 400 } },
];

// -- tools ---------------------------------------------------------------------------------

type Tool = 'select' | 'pan' | 'wl' | 'measure' | 'bounding_box_2d' | 'bounding_box_3d' | 'polygon' | 'freehand' | 'spline' | 'brush' | 'eraser' | 'keypoints';
const TOOL_INFO: Record<Tool, { name: string; key: string }> = {
  select: { name: 'Select / edit', key: 'v' },
  pan: { name: 'Pan', key: 'h' },
  wl: { name: 'Window / level', key: 'w' },
  measure: { name: 'Measure (mm)', key: 'm' },
  bounding_box_2d: { name: '2D box', key: 'b' },
  bounding_box_3d: { name: '3D box', key: 'n' },
  polygon: { name: 'Polygon', key: 'p' },
  freehand: { name: 'Freehand', key: 'f' },
  spline: { name: 'Spline', key: 'k' },
  brush: { name: 'Brush', key: 'g' },
  eraser: { name: 'Eraser', key: 'e' },
  keypoints: { name: 'Keypoints', key: 't' },
};
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

type Drag =
  | { kind: 'pan'; x: number; y: number; tx: number; ty: number }
  | { kind: 'wl'; x: number; y: number; w: Win }
  | { kind: 'box'; tool: 'bounding_box_2d' | 'bounding_box_3d'; a: Pt; b: Pt }
  | { kind: 'freehand'; points: Pt[] }
  | { kind: 'measure'; a: Pt; b: Pt }
  | { kind: 'paint'; erase: boolean }
  | { kind: 'move'; id: string; from: Pt; orig: Shape }
  | { kind: 'vertex'; id: string; index: number; orig: Shape };

/** Editable points of a shape (vertices, control points, box corners) with their indexes. */
function handles(s: Shape): Pt[] {
  switch (s.tool) {
    case 'bounding_box_2d':
    case 'bounding_box_3d':
      return [[s.x0, s.y0], [s.x1, s.y0], [s.x1, s.y1], [s.x0, s.y1]];
    case 'polygon':
    case 'freehand':
      return s.points;
    case 'spline':
      return s.control_points;
    case 'keypoints':
      return s.points.filter((p): p is Pt => p !== null);
  }
}

function moveVertex(s: Shape, i: number, p: Pt): Shape {
  const c = structuredClone(s);
  switch (c.tool) {
    case 'bounding_box_2d':
    case 'bounding_box_3d': {
      const xs = [c.x0, c.x1, c.x1, c.x0], ys = [c.y0, c.y0, c.y1, c.y1];
      xs[i] = p[0];
      ys[i] = p[1];
      // The opposite corner stays; the moved one sets the new extent.
      const ox = xs[(i + 2) % 4]!, oy = ys[(i + 2) % 4]!;
      c.x0 = Math.min(ox, p[0]);
      c.x1 = Math.max(ox, p[0]);
      c.y0 = Math.min(oy, p[1]);
      c.y1 = Math.max(oy, p[1]);
      return c;
    }
    case 'polygon':
    case 'freehand':
      c.points[i] = p;
      return c;
    case 'spline':
      c.control_points[i] = p;
      return c;
    case 'keypoints': {
      let seen = -1;
      c.points = c.points.map((q) => (q && ++seen === i ? p : q));
      return c;
    }
  }
}

function translate(s: Shape, dx: number, dy: number): Shape {
  const c = structuredClone(s);
  const mv = (p: Pt): Pt => [p[0] + dx, p[1] + dy];
  switch (c.tool) {
    case 'bounding_box_2d':
    case 'bounding_box_3d':
      c.x0 += dx; c.x1 += dx; c.y0 += dy; c.y1 += dy;
      return c;
    case 'polygon':
    case 'freehand':
      c.points = c.points.map(mv);
      return c;
    case 'spline':
      c.control_points = c.control_points.map(mv);
      return c;
    case 'keypoints':
      c.points = c.points.map((p) => (p ? mv(p) : p));
      return c;
  }
}

function outline(s: Shape): Pt[] {
  switch (s.tool) {
    case 'bounding_box_2d':
    case 'bounding_box_3d':
      return [[s.x0, s.y0], [s.x1, s.y0], [s.x1, s.y1], [s.x0, s.y1]];
    case 'polygon':
    case 'freehand':
      return s.points;
    case 'spline':
      return splinePolygon(s.control_points);
    case 'keypoints':
      return [];
  }
}

function inside(poly: Pt[], p: Pt): boolean {
  let r = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!, [xj, yj] = poly[j]!;
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) r = !r;
  }
  return r;
}

let seq = 0;
const newId = () => `s${Date.now().toString(36)}${(seq++).toString(36)}`;

// -- the viewer ----------------------------------------------------------------------------

export interface ViewerProps {
  task: TaskView;
  value: ImageAnnotation;
  onChange?: (v: ImageAnnotation) => void;
  readOnly?: boolean;
  selected: string | null;
  onSelect: (id: string | null) => void;
  /** Reports the shown frame (image-level questions follow it). */
  onFrame?: (n: number, total: number) => void;
}

const noChange = () => {};

export function ImageViewer({ task, value, onChange, readOnly, selected, onSelect, onFrame }: ViewerProps) {
  const schema = task.schema;
  const tools = useMemo(() => {
    const t: Tool[] = ['select', 'pan', 'wl', 'measure'];
    if (readOnly) return t;
    for (const d of schema.image_tools ?? []) {
      t.push(d.tool as Tool);
      if (d.tool === 'brush') t.push('eraser');
    }
    return t;
  }, [schema, readOnly]);
  const labelsOf = useCallback(
    (tool: Tool): Schemas['LabelDef'][] => {
      const key = tool === 'eraser' ? 'brush' : tool;
      const d = (schema.image_tools ?? []).find((x) => x.tool === key);
      if (!d) return [];
      if (key === 'keypoints') {
        const set = (schema.keypoint_sets ?? []).find((k) => k.id === d.keypoint_set);
        return set ? [{ id: set.id, name: set.name }] : [];
      }
      return d.labels ?? [];
    },
    [schema],
  );
  const allLabels = useMemo(() => {
    const ids: string[] = [];
    for (const d of schema.image_tools ?? []) for (const l of d.labels ?? []) if (!ids.includes(l.id)) ids.push(l.id);
    for (const k of schema.keypoint_sets ?? []) if (!ids.includes(k.id)) ids.push(k.id);
    return ids;
  }, [schema]);
  const color = (label: string) => COLORS[Math.max(0, allLabels.indexOf(label)) % COLORS.length]!;

  const [series, setSeries] = useState<SeriesView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [frame, setFrame] = useState(0);
  const [win, setWin] = useState<Win | null>(null);
  const [tool, setTool] = useState<Tool>('select');
  const [label, setLabel] = useState<Record<string, string>>({});
  const [brush, setBrush] = useState(6);
  const [view, setView] = useState({ scale: 1, tx: 0, ty: 0 });
  const [pending, setPending] = useState<Pt[]>([]); // polygon / spline / keypoints in progress
  const [drag, setDrag] = useState<Drag | null>(null);
  const [measure, setMeasure] = useState<{ a: Pt; b: Pt; frame: number } | null>(null);
  const [cursor, setCursor] = useState<Pt | null>(null);
  const [drawMs, setDrawMs] = useState<number | null>(null);
  const [, setTick] = useState(0);
  const cache = useRef(new Map<number, Loaded>());
  const canvas = useRef<HTMLCanvasElement | null>(null);
  const img = useRef<HTMLCanvasElement | null>(null);
  const maskLayer = useRef<HTMLCanvasElement | null>(null);
  const paintMask = useRef<{ key: string; mask: Uint8Array } | null>(null);
  const total = series?.frames.length ?? 0;
  const meta = series?.frames[frame];
  const curLabel = (t: Tool) => label[t] ?? labelsOf(t)[0]?.id ?? '';

  // Load the series (or the single image).
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        if (task.item_kind === 'image') {
          const r = await fetch(`/api/v1/tasks/${encodeURIComponent(task.id)}/content`, { credentials: 'same-origin' });
          if (!r.ok) throw new Error(`the image could not be loaded (${r.status})`);
          const bmp = await createImageBitmap(await r.blob());
          const c = document.createElement('canvas');
          c.width = bmp.width;
          c.height = bmp.height;
          const ctx = c.getContext('2d')!;
          ctx.drawImage(bmp, 0, 0);
          const d = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
          cache.current.set(0, { data: d, rows: bmp.height, columns: bmp.width, spp: 4, min: 0, max: 255 });
          if (live) setSeries({ item_id: task.item_id, frames: [{ rows: bmp.height, columns: bmp.width, samples_per_pixel: 4, dtype: 'uint8', photometric: 'RGB', rescale_slope: 1, rescale_intercept: 0, windows: [] }] });
          return;
        }
        const r = await fetch(`/api/v1/tasks/${encodeURIComponent(task.id)}/series`, { credentials: 'same-origin' });
        if (!r.ok) throw new Error(`the series could not be loaded (${r.status})`);
        const s = (await r.json()) as SeriesView;
        if (live) setSeries(s);
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [task.id, task.item_id, task.item_kind]);

  // Fetch the shown frame (and its neighbours, so scrolling does not wait).
  const load = useCallback(
    async (n: number) => {
      if (!series || cache.current.has(n) || n < 0 || n >= series.frames.length) return;
      const f = series.frames[n]!;
      const r = await fetch(`/api/v1/tasks/${encodeURIComponent(task.id)}/frames/${n}`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`frame ${n + 1} could not be loaded (${r.status})`);
      const data = typed(await r.arrayBuffer(), f.dtype);
      const [min, max] = range(data, f.samples_per_pixel);
      cache.current.set(n, { data, rows: f.rows, columns: f.columns, spp: f.samples_per_pixel, min, max });
    },
    [series, task.id],
  );
  useEffect(() => {
    if (!series) return;
    let live = true;
    load(frame)
      .then(() => {
        if (!live) return;
        setTick((t) => t + 1);
        void load(frame + 1).catch(() => {});
        void load(frame - 1).catch(() => {});
      })
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    onFrame?.(frame, series.frames.length);
    return () => {
      live = false;
    };
  }, [series, frame, load, onFrame]);

  // Initial window: the file's preset, else the frame's full range.
  const loaded = cache.current.get(frame);
  useEffect(() => {
    if (win || !loaded || !meta) return;
    const p = meta.windows[0];
    if (p) setWin({ center: p.center, width: p.width });
    else {
      const lo = loaded.min * meta.rescale_slope + meta.rescale_intercept, hi = loaded.max * meta.rescale_slope + meta.rescale_intercept;
      setWin({ center: (lo + hi) / 2, width: Math.max(hi - lo, 1) });
    }
  }, [loaded, meta, win]);

  // Fit the image in the canvas once its size is known.
  const fitted = useRef(false);
  useEffect(() => {
    const c = canvas.current;
    if (!c || !meta || fitted.current) return;
    fitted.current = true;
    const scale = Math.min(c.width / meta.columns, c.height / meta.rows);
    setView({ scale, tx: (c.width - meta.columns * scale) / 2, ty: (c.height - meta.rows * scale) / 2 });
  }, [meta]);

  // The frame through the window into the image layer.
  useEffect(() => {
    if (!loaded || !meta || !win) return;
    const c = (img.current ??= document.createElement('canvas'));
    c.width = loaded.columns;
    c.height = loaded.rows;
    const ctx = c.getContext('2d')!;
    const t0 = performance.now();
    const data = ctx.createImageData(loaded.columns, loaded.rows);
    renderFrame(loaded, win, meta.rescale_slope, meta.rescale_intercept, meta.photometric === 'MONOCHROME1', data.data);
    ctx.putImageData(data, 0, 0);
    // The frame through the window onto its layer (what `clinlabel`'s viewer benchmark reports).
    setDrawMs(performance.now() - t0);
    setTick((t) => t + 1);
  }, [loaded, meta, win]);

  // Label maps of the shown frame into the mask layer.
  const masksHere = value.masks.filter((m) => m.frame === frame);
  const maskSig = masksHere.map((m) => `${m.label}:${m.rle.length}:${m.rle.slice(0, 8).join(',')}`).join('|');
  useEffect(() => {
    if (!meta) return;
    const c = (maskLayer.current ??= document.createElement('canvas'));
    c.width = meta.columns;
    c.height = meta.rows;
    const ctx = c.getContext('2d')!;
    const data = ctx.createImageData(meta.columns, meta.rows);
    for (const m of masksHere) {
      const mask = paintMask.current?.key === `${m.frame}|${m.label}` ? paintMask.current.mask : rleDecode(m);
      const hex = color(m.label);
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      for (let i = 0; i < mask.length; i++) {
        if (!mask[i]) continue;
        data.data[i * 4] = r!;
        data.data[i * 4 + 1] = g!;
        data.data[i * 4 + 2] = b!;
        data.data[i * 4 + 3] = 110;
      }
    }
    ctx.putImageData(data, 0, 0);
    setTick((t) => t + 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [maskSig, frame, meta]);

  // Draw everything.
  const toImage = (e: { clientX: number; clientY: number }): Pt => {
    const c = canvas.current!;
    const r = c.getBoundingClientRect();
    const px = ((e.clientX - r.left) * c.width) / r.width, py = ((e.clientY - r.top) * c.height) / r.height;
    return [(px - view.tx) / view.scale, (py - view.ty) / view.scale];
  };
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ctx = c.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
    if (!img.current || !meta) return;
    ctx.setTransform(view.scale, 0, 0, view.scale, view.tx, view.ty);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img.current, 0, 0);
    if (maskLayer.current) ctx.drawImage(maskLayer.current, 0, 0);
    const lw = 1.5 / view.scale;
    const drawPoly = (pts: Pt[], close: boolean) => {
      if (!pts.length) return;
      ctx.beginPath();
      ctx.moveTo(pts[0]![0], pts[0]![1]);
      for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
      if (close) ctx.closePath();
      ctx.stroke();
    };
    for (const s of value.shapes) {
      const [f0, f1] = shapeFrames(s);
      if (frame < f0 || frame > f1) continue;
      const on = s.id === selected;
      ctx.strokeStyle = color(s.label);
      ctx.fillStyle = color(s.label);
      ctx.lineWidth = on ? lw * 2 : lw;
      ctx.setLineDash(s.tool === 'bounding_box_3d' && frame !== f0 && frame !== f1 ? [4 / view.scale, 3 / view.scale] : []);
      if (s.tool === 'keypoints') {
        for (const p of s.points) if (p) ctx.fillRect(p[0] - 2 / view.scale, p[1] - 2 / view.scale, 4 / view.scale, 4 / view.scale);
      } else drawPoly(outline(s), true);
      if (on && !readOnly) {
        ctx.setLineDash([]);
        ctx.fillStyle = '#fff';
        for (const h of handles(s)) ctx.fillRect(h[0] - 3 / view.scale, h[1] - 3 / view.scale, 6 / view.scale, 6 / view.scale);
      }
    }
    ctx.setLineDash([]);
    ctx.lineWidth = lw;
    ctx.strokeStyle = '#ff0';
    if (drag?.kind === 'box') drawPoly([drag.a, [drag.b[0], drag.a[1]], drag.b, [drag.a[0], drag.b[1]]], true);
    if (drag?.kind === 'freehand') drawPoly(drag.points, false);
    if (pending.length) {
      drawPoly(tool === 'spline' && pending.length >= 3 ? splinePolygon(pending) : pending, tool === 'spline');
      ctx.fillStyle = '#ff0';
      for (const p of pending) ctx.fillRect(p[0] - 2 / view.scale, p[1] - 2 / view.scale, 4 / view.scale, 4 / view.scale);
    }
    const m = drag?.kind === 'measure' ? { ...drag, frame } : measure;
    if (m && m.frame === frame) {
      ctx.strokeStyle = '#0ff';
      drawPoly([m.a, m.b], false);
    }
    if ((tool === 'brush' || tool === 'eraser') && cursor) {
      ctx.strokeStyle = tool === 'brush' ? '#fff' : '#f66';
      ctx.beginPath();
      ctx.arc(cursor[0], cursor[1], brush, 0, Math.PI * 2);
      ctx.stroke();
    }
  });

  // -- changes with undo (Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y: kit/undo) ----------------------------
  const history = useUndo(value, onChange ?? noChange, !readOnly && !!onChange);
  const commit = (next: ImageAnnotation) => {
    if (readOnly || !onChange) return;
    history.commit(next);
  };
  const { undo, redo } = history;
  const addShape = (s: Shape) => {
    commit({ ...value, shapes: [...value.shapes, s] });
    onSelect(s.id);
  };
  const replaceShape = (s: Shape) => commit({ ...value, shapes: value.shapes.map((x) => (x.id === s.id ? s : x)) });
  const deleteShape = (id: string) => {
    commit({ ...value, shapes: value.shapes.filter((x) => x.id !== id) });
    onSelect(null);
  };

  const finishPending = () => {
    if (tool === 'polygon' && pending.length >= 3) addShape({ id: newId(), label: curLabel('polygon'), tool: 'polygon', frame, points: pending });
    if (tool === 'spline' && pending.length >= 3) addShape({ id: newId(), label: curLabel('spline'), tool: 'spline', frame, control_points: pending });
    if (tool === 'keypoints' && pending.length) finishKeypoints(pending.map((p) => p));
    setPending([]);
  };
  const keypointNames = useMemo(() => {
    const d = (schema.image_tools ?? []).find((x) => x.tool === 'keypoints');
    return (schema.keypoint_sets ?? []).find((k) => k.id === d?.keypoint_set)?.points ?? [];
  }, [schema]);
  const [kpSkips, setKpSkips] = useState<(Pt | null)[]>([]);
  const finishKeypoints = (pts: (Pt | null)[]) => {
    const all = [...pts];
    while (all.length < keypointNames.length) all.push(null);
    addShape({ id: newId(), label: curLabel('keypoints'), tool: 'keypoints', frame, points: all.slice(0, keypointNames.length) });
    setKpSkips([]);
  };

  // -- pointer ------------------------------------------------------------------------------
  const hit = (p: Pt): { id: string; vertex: number | null } | null => {
    const tol = 6 / view.scale;
    const here = value.shapes.filter((s) => frame >= shapeFrames(s)[0] && frame <= shapeFrames(s)[1]);
    const sel = here.find((s) => s.id === selected);
    if (sel) {
      const i = handles(sel).findIndex((h) => Math.hypot(h[0] - p[0], h[1] - p[1]) <= tol);
      if (i >= 0) return { id: sel.id, vertex: i };
    }
    for (const s of [...here].reverse()) {
      if (s.tool === 'keypoints' ? handles(s).some((h) => Math.hypot(h[0] - p[0], h[1] - p[1]) <= tol) : inside(outline(s), p)) return { id: s.id, vertex: null };
    }
    return null;
  };
  const paintAt = (p: Pt, erase: boolean) => {
    if (!meta) return;
    const lab = curLabel('brush');
    const key = `${frame}|${lab}`;
    if (paintMask.current?.key !== key) {
      const existing = value.masks.find((m) => m.frame === frame && m.label === lab);
      paintMask.current = { key, mask: existing ? rleDecode(existing) : new Uint8Array(meta.rows * meta.columns) };
    }
    const mask = paintMask.current.mask;
    const r = brush;
    for (let y = Math.max(0, Math.floor(p[1] - r)); y <= Math.min(meta.rows - 1, Math.ceil(p[1] + r)); y++)
      for (let x = Math.max(0, Math.floor(p[0] - r)); x <= Math.min(meta.columns - 1, Math.ceil(p[0] + r)); x++)
        if ((x + 0.5 - p[0]) ** 2 + (y + 0.5 - p[1]) ** 2 <= r * r) mask[y * meta.columns + x] = erase ? 0 : 1;
    // Show the stroke as it goes.
    const c = maskLayer.current;
    if (c) {
      const ctx = c.getContext('2d')!;
      const hex = color(lab);
      ctx.fillStyle = erase ? 'rgba(0,0,0,1)' : `${hex}6e`;
      ctx.globalCompositeOperation = erase ? 'destination-out' : 'source-over';
      ctx.beginPath();
      ctx.arc(p[0], p[1], r, 0, Math.PI * 2);
      ctx.fill();
      ctx.globalCompositeOperation = 'source-over';
    }
  };
  const endPaint = () => {
    const pm = paintMask.current;
    if (!pm || !meta) return;
    const [f, lab] = pm.key.split('|') as [string, string];
    const others = value.masks.filter((m) => !(m.frame === Number(f) && m.label === lab));
    const any = pm.mask.some((v) => v);
    commit({ ...value, masks: any ? [...others, { frame: Number(f), label: lab, instance: 0, rows: meta.rows, columns: meta.columns, rle: rleEncode(pm.mask) }] : others });
    paintMask.current = null;
  };

  const onDown = (e: RPointerEvent<HTMLCanvasElement>) => {
    if (!meta) return;
    e.currentTarget.setPointerCapture?.(e.pointerId);
    e.currentTarget.focus();
    const p = toImage(e);
    const t = e.button === 1 || e.shiftKey ? 'pan' : e.button === 2 ? 'wl' : tool;
    switch (t) {
      case 'pan':
        return setDrag({ kind: 'pan', x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty });
      case 'wl':
        return win && setDrag({ kind: 'wl', x: e.clientX, y: e.clientY, w: win });
      case 'measure':
        return setDrag({ kind: 'measure', a: p, b: p });
      case 'bounding_box_2d':
      case 'bounding_box_3d':
        return setDrag({ kind: 'box', tool: t, a: p, b: p });
      case 'freehand':
        return setDrag({ kind: 'freehand', points: [p] });
      case 'polygon':
      case 'spline':
        // A click very near the last point (the second click of a double-click) adds nothing.
        return setPending((q) => (q.length && Math.hypot(q[q.length - 1]![0] - p[0], q[q.length - 1]![1] - p[1]) < 2 / view.scale ? q : [...q, p]));
      case 'keypoints': {
        const next = [...kpSkips, p];
        if (next.length >= keypointNames.length) return finishKeypoints(next);
        return setKpSkips(next);
      }
      case 'brush':
      case 'eraser':
        paintAt(p, t === 'eraser');
        return setDrag({ kind: 'paint', erase: t === 'eraser' });
      case 'select': {
        const h = hit(p);
        if (!h) return onSelect(null);
        onSelect(h.id);
        if (readOnly) return;
        const s = value.shapes.find((x) => x.id === h.id)!;
        return setDrag(h.vertex !== null ? { kind: 'vertex', id: h.id, index: h.vertex, orig: s } : { kind: 'move', id: h.id, from: p, orig: s });
      }
    }
  };
  const [live, setLive] = useState<Shape | null>(null);
  const onMove = (e: RPointerEvent<HTMLCanvasElement>) => {
    const p = toImage(e);
    setCursor(p);
    if (!drag) return;
    switch (drag.kind) {
      case 'pan':
        return setView((v) => ({ ...v, tx: drag.tx + (e.clientX - drag.x), ty: drag.ty + (e.clientY - drag.y) }));
      case 'wl':
        return setWin({ center: drag.w.center + (e.clientY - drag.y) * Math.max(drag.w.width / 256, 1), width: Math.max(1, drag.w.width + (e.clientX - drag.x) * Math.max(drag.w.width / 256, 1)) });
      case 'measure':
      case 'box':
        return setDrag({ ...drag, b: p });
      case 'freehand':
        return setDrag({ ...drag, points: [...drag.points, p] });
      case 'paint':
        return paintAt(p, drag.erase);
      case 'move': {
        const s = translate(drag.orig, p[0] - drag.from[0], p[1] - drag.from[1]);
        setLive(s);
        return onChange?.({ ...value, shapes: value.shapes.map((x) => (x.id === s.id ? s : x)) });
      }
      case 'vertex': {
        const s = moveVertex(drag.orig, drag.index, p);
        setLive(s);
        return onChange?.({ ...value, shapes: value.shapes.map((x) => (x.id === s.id ? s : x)) });
      }
    }
  };
  const onUp = () => {
    const d = drag;
    setDrag(null);
    if (!d) return;
    if (d.kind === 'measure') setMeasure({ a: d.a, b: d.b, frame });
    if (d.kind === 'box') {
      const [x0, x1] = [Math.min(d.a[0], d.b[0]), Math.max(d.a[0], d.b[0])], [y0, y1] = [Math.min(d.a[1], d.b[1]), Math.max(d.a[1], d.b[1])];
      if (x1 - x0 < 1 || y1 - y0 < 1) return;
      if (d.tool === 'bounding_box_2d') addShape({ id: newId(), label: curLabel(d.tool), tool: 'bounding_box_2d', frame, x0, y0, x1, y1 });
      else addShape({ id: newId(), label: curLabel(d.tool), tool: 'bounding_box_3d', frames: [frame, frame], x0, y0, x1, y1 });
    }
    if (d.kind === 'freehand' && d.points.length >= 3) addShape({ id: newId(), label: curLabel('freehand'), tool: 'freehand', frame, points: d.points });
    if (d.kind === 'paint') endPaint();
    if ((d.kind === 'move' || d.kind === 'vertex') && live) {
      // One undo step for the whole drag: from the shape as it was.
      history.record({ ...value, shapes: value.shapes.map((x) => (x.id === d.id ? d.orig : x)) });
      setLive(null);
    }
  };
  const onWheel = (e: RWheelEvent<HTMLCanvasElement>) => {
    if (e.ctrlKey) {
      const c = canvas.current!;
      const r = c.getBoundingClientRect();
      const px = ((e.clientX - r.left) * c.width) / r.width, py = ((e.clientY - r.top) * c.height) / r.height;
      const k = e.deltaY < 0 ? 1.2 : 1 / 1.2;
      setView((v) => ({ scale: v.scale * k, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k }));
    } else step(e.deltaY > 0 ? 1 : -1);
  };
  useEffect(() => {
    // Wheel scrolling must not scroll the page.
    const c = canvas.current;
    if (!c) return;
    const stop = (e: WheelEvent) => e.preventDefault();
    c.addEventListener('wheel', stop, { passive: false });
    return () => c.removeEventListener('wheel', stop);
  }, [series]);
  const step = (d: number) => setFrame((f) => Math.max(0, Math.min(total - 1, f + d)));
  const zoom = (k: number) => {
    const c = canvas.current;
    if (!c) return;
    setView((v) => ({ scale: v.scale * k, tx: c.width / 2 - (c.width / 2 - v.tx) * k, ty: c.height / 2 - (c.height / 2 - v.ty) * k }));
  };
  const sel = value.shapes.find((s) => s.id === selected) ?? null;
  const setRange = (end: 0 | 1) => {
    if (!sel || sel.tool !== 'bounding_box_3d') return;
    const f: [number, number] = [...sel.frames];
    f[end] = frame;
    replaceShape({ ...sel, frames: [Math.min(f[0], f[1]), Math.max(f[0], f[1])] });
  };

  const shortcuts: Shortcut[] = [
    ...tools.map((t) => ({ keys: TOOL_INFO[t].key, description: `Tool: ${TOOL_INFO[t].name}`, run: () => (setPending([]), setKpSkips([]), setTool(t)) })),
    { keys: 'PageDown', description: 'Next frame', run: () => step(1) },
    { keys: 'PageUp', description: 'Previous frame', run: () => step(-1) },
    { keys: 'ArrowRight', description: 'Next frame', run: () => step(1) },
    { keys: 'ArrowLeft', description: 'Previous frame', run: () => step(-1) },
    { keys: '+', description: 'Zoom in', run: () => zoom(1.25) },
    { keys: '-', description: 'Zoom out', run: () => zoom(0.8) },
    ...(readOnly ? [] : [{ keys: 'Delete', description: 'Delete the selected shape', run: () => sel && deleteShape(sel.id) }]),
    ...(PRESETS.map((p, i) => ({ keys: `l ${i + 1}`, description: `Window preset: ${p.name}`, run: () => setWin(p.w) }))),
  ];
  useShortcuts(shortcuts);

  const spacing = meta?.pixel_spacing ?? null;
  const mm = (m: { a: Pt; b: Pt }) => (spacing ? Math.hypot((m.b[0] - m.a[0]) * spacing[1], (m.b[1] - m.a[1]) * spacing[0]) : null);
  const shownMeasure = drag?.kind === 'measure' ? drag : measure?.frame === frame ? measure : null;
  const at = cursor && meta && loaded && cursor[0] >= 0 && cursor[1] >= 0 && cursor[0] < meta.columns && cursor[1] < meta.rows && loaded.spp === 1
    ? loaded.data[Math.floor(cursor[1]) * meta.columns + Math.floor(cursor[0])]! * meta.rescale_slope + meta.rescale_intercept
    : null;

  if (error) return <p className="error" role="alert" data-testid="viewer-error">{error}</p>;
  if (!series) return <p aria-busy="true">Loading the series…</p>;
  return (
    <div className="viewer" data-testid="viewer" data-frame={frame} data-frames={total} data-columns={meta?.columns} data-rows={meta?.rows} data-window={win ? `${Math.round(win.center)}/${Math.round(win.width)}` : ''} data-draw-ms={drawMs?.toFixed(3) ?? ''}>
      <div className="viewer-tools" role="toolbar" aria-label="Tools">
        {tools.map((t) => (
          <button key={t} type="button" aria-pressed={tool === t} data-tool={t} onClick={() => (setPending([]), setKpSkips([]), setTool(t))} title={`${TOOL_INFO[t].name} (${TOOL_INFO[t].key})`}>
            {TOOL_INFO[t].name} <kbd>{TOOL_INFO[t].key}</kbd>
          </button>
        ))}
      </div>
      <div className="viewer-bar">
        {labelsOf(tool).length ? (
          <label>
            Label{' '}
            <select aria-label="Label" value={curLabel(tool)} onChange={(e) => setLabel({ ...label, [tool]: e.target.value })}>
              {labelsOf(tool).map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
            </select>
          </label>
        ) : null}
        {tool === 'brush' || tool === 'eraser' ? (
          <label>
            Brush <input aria-label="Brush radius" type="number" min={1} max={64} value={brush} onChange={(e) => setBrush(Math.max(1, e.target.valueAsNumber || 1))} /> px
          </label>
        ) : null}
        {tool === 'keypoints' ? (
          <span data-testid="keypoint-next">
            Place <strong>{keypointNames[kpSkips.length] ?? '—'}</strong>{' '}
            <button type="button" onClick={() => { const n = [...kpSkips, null]; if (n.length >= keypointNames.length) finishKeypoints(n); else setKpSkips(n); }}>Not visible</button>
          </span>
        ) : null}
        {tool === 'polygon' || tool === 'spline' ? <span className="muted">Click to add points; double-click or Enter to close.</span> : null}
        <span className="viewer-presets" role="group" aria-label="Window presets">
          {PRESETS.map((p, i) => (
            <button key={p.key} type="button" data-preset={p.key} onClick={() => setWin(p.w)} title={`${p.w.center}/${p.w.width} (l ${i + 1})`}>{p.name}</button>
          ))}
          {meta?.windows.map((w, i) => (
            <button key={`f${i}`} type="button" onClick={() => setWin({ center: w.center, width: w.width })}>File {i + 1}</button>
          ))}
        </span>
      </div>
      <canvas
        ref={canvas}
        className="viewer-canvas"
        width={640}
        height={512}
        tabIndex={0}
        aria-label={`Frame ${frame + 1} of ${total}`}
        data-testid="viewer-canvas"
        style={{ cursor: tool === 'pan' ? 'grab' : tool === 'select' ? 'default' : 'crosshair' }}
        onPointerDown={onDown}
        onPointerMove={onMove}
        onPointerUp={onUp}
        onPointerLeave={() => setCursor(null)}
        onWheel={onWheel}
        onDoubleClick={() => finishPending()}
        onKeyDown={(e: RKeyboardEvent<HTMLCanvasElement>) => {
          // Handled here, before the page's shortcuts see them: Enter closes
          // the outline being drawn (instead of submitting), Escape drops it.
          if (e.key === 'Enter' && pending.length) {
            e.preventDefault();
            e.stopPropagation();
            finishPending();
          } else if (e.key === 'Escape' && (pending.length || kpSkips.length)) {
            e.stopPropagation();
            setPending([]);
            setKpSkips([]);
          }
        }}
        onContextMenu={(e) => e.preventDefault()}
      />
      <div className="viewer-status" data-testid="viewer-status">
        <span data-testid="frame-label">Frame {frame + 1} / {total}</span>
        <input type="range" aria-label="Frame" min={0} max={Math.max(0, total - 1)} value={frame} onChange={(e) => setFrame(e.target.valueAsNumber)} />
        {win ? <span data-testid="window-label">W {Math.round(win.width)} / L {Math.round(win.center)}</span> : null}
        {at !== null ? <span>Value {Math.round(at * 100) / 100}</span> : null}
        {spacing ? <span>{spacing[1].toFixed(2)} × {spacing[0].toFixed(2)} mm/px</span> : <span className="muted">no pixel spacing</span>}
        {shownMeasure ? <span data-testid="measurement">{mm(shownMeasure) !== null ? `${mm(shownMeasure)!.toFixed(1)} mm` : `${Math.hypot(shownMeasure.b[0] - shownMeasure.a[0], shownMeasure.b[1] - shownMeasure.a[1]).toFixed(1)} px`}</span> : null}
        {!readOnly ? (
          <>
            <button type="button" onClick={undo} disabled={!history.canUndo}>Undo <kbd>Ctrl+Z</kbd></button>
            <button type="button" onClick={redo} disabled={!history.canRedo}>Redo <kbd>Ctrl+Y</kbd></button>
          </>
        ) : null}
        {sel?.tool === 'bounding_box_3d' && !readOnly ? (
          <span data-testid="box3d-range">
            Slices {sel.frames[0] + 1}–{sel.frames[1] + 1}{' '}
            <button type="button" onClick={() => setRange(0)}>Start here</button> <button type="button" onClick={() => setRange(1)}>End here</button>
          </span>
        ) : null}
      </div>
    </div>
  );
}
