// The keyboard-shortcut registry. Pages register their shortcuts while mounted
// (`useShortcuts`); `?` opens an overlay listing the current page's shortcuts
// and the global ones. Keys are single characters or two-key sequences ("g h").
// Shortcuts are ignored while typing in a field.
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export interface Shortcut {
  keys: string;
  description: string;
  run: () => void;
}
interface Entry extends Shortcut { scope: 'global' | 'page'; id: number }
interface Registry { add(s: Shortcut[], scope: Entry['scope']): () => void; list(): Entry[]; subscribe(f: () => void): () => void }

function createRegistry(): Registry {
  let entries: Entry[] = [];
  let id = 0;
  const subs = new Set<() => void>();
  const emit = () => subs.forEach((f) => f());
  return {
    add(list, scope) {
      const added = list.map((s) => ({ ...s, scope, id: ++id }));
      entries = [...entries, ...added];
      emit();
      return () => {
        entries = entries.filter((e) => !added.includes(e));
        emit();
      };
    },
    list: () => entries,
    subscribe(f) {
      subs.add(f);
      return () => void subs.delete(f);
    },
  };
}

const Ctx = createContext<Registry | null>(null);

/** Registers shortcuts while the calling component is mounted. */
export function useShortcuts(list: Shortcut[], scope: Entry['scope'] = 'page') {
  const reg = useContext(Ctx);
  const latest = useRef(list);
  latest.current = list;
  const signature = list.map((s) => `${s.keys}\u0000${s.description}`).join('\u0001');
  useEffect(() => {
    if (!reg) return;
    // Call through `latest` so handlers see current state without re-registering.
    const stable = latest.current.map((s, i) => ({ ...s, run: () => latest.current[i]?.run() }));
    return reg.add(stable, scope);
  }, [reg, signature, scope]);
}

function typing(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

export function ShortcutProvider({ children }: { children: ReactNode }) {
  const reg = useMemo(createRegistry, []);
  const [open, setOpen] = useState(false);
  const [, force] = useState(0);
  useEffect(() => reg.subscribe(() => force((n) => n + 1)), [reg]);

  useEffect(() => {
    let pending: string | null = null;
    let pendingAt = 0;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      if (e.key === '?') {
        e.preventDefault();
        setOpen((o) => !o);
        return;
      }
      const now = e.timeStamp;
      const seq = pending && now - pendingAt < 1500 ? `${pending} ${e.key}` : null;
      const all = reg.list();
      const hit = (seq && all.find((s) => s.keys === seq)) || all.find((s) => s.keys === e.key);
      if (hit) {
        e.preventDefault();
        pending = null;
        setOpen(false);
        hit.run();
        return;
      }
      if (all.some((s) => s.keys.startsWith(`${e.key} `))) {
        pending = e.key;
        pendingAt = now;
      } else pending = null;
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [reg]);

  const entries = reg.list();
  const page = entries.filter((e) => e.scope === 'page');
  const global = [{ keys: '?', description: 'Show or hide this list', scope: 'global' as const, id: 0, run: () => {} }, ...entries.filter((e) => e.scope === 'global')];
  return (
    <Ctx.Provider value={reg}>
      {children}
      {open ? (
        <div className="overlay" onClick={() => setOpen(false)}>
          <div className="dialog" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()}>
            <h2>Keyboard shortcuts</h2>
            <ShortcutList title="This page" items={page} empty="This page has no shortcuts of its own." />
            <ShortcutList title="Everywhere" items={global} />
            <p className="hint">Press <kbd>Esc</kbd> to close.</p>
          </div>
        </div>
      ) : null}
    </Ctx.Provider>
  );
}

function ShortcutList({ title, items, empty }: { title: string; items: Entry[]; empty?: string }) {
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      {items.length === 0 ? (
        <p className="empty">{empty}</p>
      ) : (
        <dl className="shortcuts">
          {items.map((s) => (
            <div key={`${s.id}-${s.keys}`} className="shortcut">
              <dt>{s.keys.split(' ').map((k, i) => <kbd key={i}>{k}</kbd>)}</dt>
              <dd>{s.description}</dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}
