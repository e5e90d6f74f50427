// Project lists for the home pages (the project workspace itself comes with later issues).
import { useEffect, useState } from 'react';
import { ApiError, call, type Schemas } from '../api/client';
import { Empty, formatTime } from '../kit/page';
import { DataTable } from '../kit/table';
import { Link } from '../router';

export type ProjectSummary = Schemas['ProjectSummary'];
export type ProjectState = Schemas['ProjectState'];

export const STATE_LABEL: Record<ProjectState, string> = {
  draft: 'Draft',
  submitted: 'Submitted for review',
  quoted: 'Quoted, awaiting approval',
  approved: 'Approved',
  in_progress: 'In progress',
  in_qa: 'In QA',
  delivered: 'Delivered',
  rejected: 'Quote rejected',
  cancelled: 'Cancelled',
};
const MODALITY_LABEL: Record<string, string> = { image: 'Images', text: 'Clinical text', audio: 'Audio', preference: 'AI responses', genomic: 'Genomic' };

const columns = [
  { key: 'name', header: 'Project', render: (p: ProjectSummary) => <Link to={`/projects/${p.id}`}>{p.name}</Link> },
  { key: 'modality', header: 'Data', render: (p: ProjectSummary) => MODALITY_LABEL[p.modality] ?? p.modality },
  { key: 'state', header: 'State', render: (p: ProjectSummary) => <span className={`state state-${p.state}`}>{STATE_LABEL[p.state]}</span> },
  { key: 'deadline', header: 'Deadline', render: (p: ProjectSummary) => formatTime(p.deadline) },
  { key: 'updated', header: 'Last change', render: (p: ProjectSummary) => formatTime(p.updated_at) },
];

/** Projects the caller may see (one state, or all), paged on the server. */
export function ProjectTable({ state, empty, label }: { state?: ProjectState; empty: string; label: string }) {
  return (
    <DataTable<ProjectSummary>
      label={label}
      columns={columns}
      load={(r) => call('get', '/projects', { query: { state: state ?? null, page: r.page, per_page: r.perPage } })}
      rowKey={(p) => p.id}
      empty={empty}
      perPage={10}
      testId={`projects-${state ?? 'all'}`}
    />
  );
}

/** Projects in any of several states (a short list for a home page: the first 100 of each). */
export function ProjectsInStates({ states, empty, label }: { states: ProjectState[]; empty: string; label: string }) {
  const [rows, setRows] = useState<ProjectSummary[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const key = states.join(',');
  useEffect(() => {
    Promise.all(states.map((state) => call('get', '/projects', { query: { state, per_page: 100 } })))
      .then((pages) => setRows(pages.flatMap((p) => p.items).sort((a, b) => b.updated_at - a.updated_at)))
      .catch((e: unknown) => setError(e instanceof ApiError ? e : new ApiError(0, 'unknown', String(e))));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (error) return <p className="form-error" role="alert">{error.message} <code className="code">{error.code}</code></p>;
  if (!rows) return <p>Loading…</p>;
  if (rows.length === 0) return <Empty>{empty}</Empty>;
  return (
    <table aria-label={label} data-testid={`projects-${key}`}>
      <thead>
        <tr>{columns.map((c) => <th key={c.key} scope="col">{c.header}</th>)}</tr>
      </thead>
      <tbody>
        {rows.map((p) => (
          <tr key={p.id}>{columns.map((c) => <td key={c.key}>{c.render(p)}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}
