// Loading one thing from the API for a page: data, error, and a way to reload.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';

export interface Loaded<T> { data: T | null; error: ApiError | null; loading: boolean; reload: () => void; set: (t: T) => void }

export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    let live = true;
    setLoading(true);
    fnRef.current().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(asApiError(e));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick, ...deps]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, set: setData };
}

export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'unknown', e instanceof Error ? e.message : String(e));
}

export function ErrorLine({ error }: { error: ApiError | null | undefined }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {error.message} <code className="code">{error.code}</code>
    </p>
  );
}

/** Renders `children(data)` once loaded; the error or a loading line otherwise. */
export function Show<T>({ l, children }: { l: Loaded<T>; children: (d: T) => ReactNode }) {
  if (l.error && !l.data) return <ErrorLine error={l.error} />;
  if (!l.data) return <p aria-busy="true">Loading…</p>;
  return <>{children(l.data)}</>;
}

export function money(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function pct(x: number | null | undefined, digits = 0): string {
  return x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)} %`;
}
