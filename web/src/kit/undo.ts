// Undo / redo over a value held by the caller: every edit goes through
// `commit(next)` (the value before it is remembered), `record(prev)` notes a
// step whose change the caller already made (one step for a whole drag),
// `undo` / `redo` hand back earlier / later values through `set`. While
// `enabled`, Ctrl+Z (⌘Z) undoes and Ctrl+Shift+Z or Ctrl+Y redoes — except
// while typing in a field, where the browser's own undo applies. The image
// and text workspaces share it.
import { useCallback, useEffect, useRef, useState } from 'react';

/** Steps kept. */
const LIMIT = 200;

export interface Undo<T> {
  commit: (next: T) => void;
  record: (prev: T) => void;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
}

export function useUndo<T>(value: T, set: (v: T) => void, enabled: boolean): Undo<T> {
  const h = useRef<{ past: T[]; future: T[] }>({ past: [], future: [] });
  const latest = useRef(value);
  latest.current = value;
  const [, redraw] = useState(0);
  const record = useCallback((prev: T) => {
    h.current.past.push(prev);
    if (h.current.past.length > LIMIT) h.current.past.shift();
    h.current.future = [];
    redraw((n) => n + 1);
  }, []);
  const commit = useCallback((next: T) => {
    record(latest.current);
    // Several commits before the next render build on each other.
    latest.current = next;
    set(next);
  }, [record, set]);
  const undo = useCallback(() => {
    const prev = h.current.past.pop();
    if (prev === undefined) return;
    h.current.future.push(latest.current);
    latest.current = prev;
    set(prev);
    redraw((n) => n + 1);
  }, [set]);
  const redo = useCallback(() => {
    const next = h.current.future.pop();
    if (next === undefined) return;
    h.current.past.push(latest.current);
    latest.current = next;
    set(next);
    redraw((n) => n + 1);
  }, [set]);
  useEffect(() => {
    if (!enabled) return;
    const f = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      const t = e.target as HTMLElement | null;
      if (t && (['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.isContentEditable)) return;
      const k = e.key.toLowerCase();
      if (k === 'z' && !e.shiftKey) (e.preventDefault(), undo());
      else if (k === 'y' || (k === 'z' && e.shiftKey)) (e.preventDefault(), redo());
    };
    document.addEventListener('keydown', f);
    return () => document.removeEventListener('keydown', f);
  }, [enabled, undo, redo]);
  return { commit, record, undo, redo, canUndo: h.current.past.length > 0, canRedo: h.current.future.length > 0 };
}
