// Tables over server-side paging and sorting. The table owns page, sort and
// direction; `load` fetches one page from the API (`{items, total}`).
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import { useShortcuts } from './shortcuts';

export interface Column<T> {
  key: string;
  header: string;
  /** The API's sort key; absent = not sortable. */
  sort?: string;
  render: (row: T) => ReactNode;
}

export interface PageRequest { page: number; perPage: number; sort?: string; dir: 'asc' | 'desc' }
export interface PageResult<T> { items: T[]; total: number }

interface Props<T> {
  label: string;
  columns: Column<T>[];
  load: (req: PageRequest) => Promise<PageResult<T>>;
  rowKey: (row: T) => string;
  empty: ReactNode;
  perPage?: number;
  initialSort?: { sort: string; dir: 'asc' | 'desc' };
  /** Change this value to reload (e.g. after a create or a filter change; the page goes back to 1). */
  reloadKey?: unknown;
  testId?: string;
}

export function DataTable<T>({ label, columns, load, rowKey, empty, perPage = 25, initialSort, reloadKey, testId }: Props<T>) {
  const [req, setReq] = useState<PageRequest>({ page: 1, perPage, sort: initialSort?.sort, dir: initialSort?.dir ?? 'asc' });
  const [data, setData] = useState<PageResult<T> | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    setReq((r) => ({ ...r, page: 1 }));
  }, [reloadKey]);

  const fetchPage = useCallback(async (r: PageRequest) => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await loadRef.current(r);
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (mine === seq.current) setError(e instanceof ApiError ? e : new ApiError(0, 'unknown', String(e)));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void fetchPage(req);
  }, [req, reloadKey, fetchPage]);

  const pages = data ? Math.max(1, Math.ceil(data.total / req.perPage)) : 1;
  const go = (page: number) => setReq((r) => ({ ...r, page: Math.max(1, Math.min(pages, page)) }));
  const sortBy = (key: string) =>
    setReq((r) => ({ ...r, page: 1, sort: key, dir: r.sort === key && r.dir === 'asc' ? 'desc' : 'asc' }));

  useShortcuts([
    { keys: ']', description: `${label}: next page`, run: () => go(req.page + 1) },
    { keys: '[', description: `${label}: previous page`, run: () => go(req.page - 1) },
  ]);

  return (
    <div className="table-wrap" data-testid={testId} aria-busy={loading}>
      {error ? (
        <div className="form-error" role="alert">{error.message} <code className="code">{error.code}</code></div>
      ) : null}
      <table aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.key} scope="col" aria-sort={c.sort && req.sort === c.sort ? (req.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                {c.sort ? (
                  <button type="button" className="sort" onClick={() => sortBy(c.sort!)}>
                    {c.header}
                    <span aria-hidden="true">{req.sort === c.sort ? (req.dir === 'asc' ? ' ▲' : ' ▼') : ' ↕'}</span>
                  </button>
                ) : (
                  c.header
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {data && data.items.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className="empty">{empty}</td>
            </tr>
          ) : null}
          {data?.items.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.key}>{c.render(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <nav className="pager" aria-label={`${label} pages`}>
        <button type="button" onClick={() => go(req.page - 1)} disabled={req.page <= 1 || loading}>Previous</button>
        <span data-testid="pager-status">
          Page {req.page} of {pages}
          {data ? ` · ${data.total} in all` : ''}
        </span>
        <button type="button" onClick={() => go(req.page + 1)} disabled={req.page >= pages || loading}>Next</button>
      </nav>
    </div>
  );
}
