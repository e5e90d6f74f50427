// The upload panel: several files (or a folder, or zips) at once, each sent in
// chunks (`PATCH /uploads/{id}` at `Upload-Offset`) with its own progress bar.
// Upload ids are kept in localStorage under the file's name, size and
// modification time, so after a dropped connection or a reload choosing the
// same file again resumes where the server stopped (`GET /uploads/{id}`).
import { useEffect, useRef, useState } from 'react';
import { ApiError, call, csrfToken_, reportUnauthorized, type Upload } from '../api/client';
import { asApiError } from '../kit/load';
import { Progress } from '../kit/progress';
import { useToast } from '../kit/toast';

const CHUNK = 8 << 20;
/** Chunk size: 8 MiB, or `localStorage['clinlabel.upload.chunkBytes']` (slow links, tests). */
function chunkBytes(): number {
  const n = Number(localStorage.getItem('clinlabel.upload.chunkBytes'));
  return Number.isFinite(n) && n >= 1024 ? n : CHUNK;
}
const PREFIX = 'clinlabel.upload.';
function keyOf(projectId: string, f: File): string {
  return `${PREFIX}${projectId}|${relName(f)}|${f.size}|${f.lastModified}`;
}
function relName(f: File): string {
  return (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
}

interface Job {
  key: string;
  name: string;
  size: number;
  received: number;
  state: 'waiting' | 'sending' | 'processing' | 'interrupted' | 'complete' | 'failed';
  resumed: boolean;
  upload?: Upload;
  error?: ApiError;
  file: File;
}

async function patchChunk(id: string, offset: number, chunk: Blob): Promise<Upload> {
  const headers: Record<string, string> = { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', Accept: 'application/json' };
  const csrf = csrfToken_();
  if (csrf) headers['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    res = await fetch(`/api/v1/uploads/${encodeURIComponent(id)}`, { method: 'PATCH', headers, body: chunk, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'The connection dropped during the upload.');
  }
  if (res.ok) return (await res.json()) as Upload;
  let err: ApiError;
  try {
    const b = (await res.json()) as { code: ApiError['code']; message: string; details?: Record<string, unknown> };
    err = new ApiError(res.status, b.code, b.message, b.details ?? undefined);
  } catch {
    err = new ApiError(res.status, 'unknown', `The server answered ${res.status}.`);
  }
  reportUnauthorized(err);
  throw err;
}

/** Unfinished uploads this browser remembers for a project. */
function remembered(projectId: string): { key: string; name: string; size: number }[] {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (!k?.startsWith(`${PREFIX}${projectId}|`)) continue;
    const [, name, size] = k.slice(PREFIX.length).split('|');
    out.push({ key: k, name: name ?? '', size: Number(size) });
  }
  return out;
}

export function UploadPanel({ projectId, onChange }: { projectId: string; onChange: () => void }) {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [pending, setPending] = useState(() => remembered(projectId));
  // Open uploads the server holds for this project (also those started in another browser).
  const [open, setOpen] = useState<Upload[]>([]);
  const openRef = useRef<Upload[]>([]);
  openRef.current = open;
  const loadOpen = () =>
    call('get', '/projects/{id}/uploads', { path: { id: projectId }, query: { state: 'open', per_page: 100 } }).then(
      (r) => setOpen(r.items.filter((u) => u.state === 'open')),
      () => {},
    );
  const running = useRef(false);
  const jobsRef = useRef<Job[]>([]);
  jobsRef.current = jobs;
  const toast = useToast();

  const patch = (key: string, p: Partial<Job>) => setJobs((js) => js.map((j) => (j.key === key ? { ...j, ...p } : j)));

  const runOne = async (job: Job) => {
    const { file, key } = job;
    // This browser's record first; else an open upload of the same name and size on the server.
    let id = localStorage.getItem(key) ?? openRef.current.find((o) => o.name === relName(file) && o.size === file.size)?.id ?? null;
    let u: Upload | null = null;
    if (id) {
      try {
        u = await call('get', '/uploads/{id}', { path: { id } });
        if (u.state !== 'open') {
          // Finished or failed earlier: start afresh only if it failed to arrive.
          if (u.state === 'complete' || u.state === 'processing') {
            localStorage.removeItem(key);
            patch(key, { state: 'complete', received: u.size, upload: u, resumed: true });
            return;
          }
          u = null;
          localStorage.removeItem(key);
        } else {
          patch(key, { resumed: true, received: u.received });
        }
      } catch {
        u = null;
        localStorage.removeItem(key);
      }
    }
    if (!u) {
      u = await call('post', '/projects/{id}/uploads', { path: { id: projectId }, body: { name: relName(file), size: file.size, purpose: 'data' } });
      id = u.id;
      localStorage.setItem(key, id);
    }
    patch(key, { state: 'sending', received: u.received, upload: u, error: undefined });
    const size = chunkBytes();
    while (u.state === 'open' && u.received < file.size) {
      const from = u.received;
      const to = Math.min(file.size, from + size);
      if (to === file.size) patch(key, { state: 'processing' });
      try {
        u = await patchChunk(u.id, from, file.slice(from, to));
      } catch (e) {
        const a = asApiError(e);
        if (a.code === 'upload_offset_mismatch') {
          u = await call('get', '/uploads/{id}', { path: { id: u.id } });
          continue;
        }
        throw a;
      }
      patch(key, { received: u.received, upload: u });
    }
    if (file.size === 0 && u.state === 'open') u = await patchChunk(u.id, 0, new Blob([]));
    localStorage.removeItem(key);
    patch(key, { state: u.state === 'failed' ? 'failed' : 'complete', received: u.received, upload: u, error: u.state === 'failed' ? new ApiError(422, 'unknown', u.error ?? 'The upload failed.') : undefined });
  };

  const pump = async () => {
    if (running.current) return;
    running.current = true;
    try {
      for (;;) {
        const next = jobsRef.current.find((j) => j.state === 'waiting');
        if (!next) break;
        patch(next.key, { state: 'sending' });
        jobsRef.current = jobsRef.current.map((j) => (j.key === next.key ? { ...j, state: 'sending' } : j));
        try {
          await runOne(next);
        } catch (e) {
          const a = asApiError(e);
          const interrupted = a.code === 'network' || a.code === 'upload_interrupted' || a.status >= 500;
          patch(next.key, { state: interrupted ? 'interrupted' : 'failed', error: a });
          jobsRef.current = jobsRef.current.map((j) => (j.key === next.key ? { ...j, state: 'failed' } : j));
          if (a.code === 'agreement_required') toast.push('error', a.message);
        }
        onChange();
      }
    } finally {
      running.current = false;
      setPending(remembered(projectId));
      void loadOpen();
    }
  };

  const add = (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const fresh: Job[] = [];
    for (const file of Array.from(files)) {
      const key = keyOf(projectId, file);
      if (jobsRef.current.some((j) => j.key === key && j.state !== 'complete' && j.state !== 'failed' && j.state !== 'interrupted')) continue;
      fresh.push({ key, name: relName(file), size: file.size, received: 0, state: 'waiting', resumed: false, file });
    }
    const keys = new Set(fresh.map((j) => j.key));
    const next = [...jobsRef.current.filter((j) => !keys.has(j.key)), ...fresh];
    jobsRef.current = next;
    setJobs(next);
    void pump();
  };

  const resume = (key: string) => {
    const next = jobsRef.current.map((j) => (j.key === key ? { ...j, state: 'waiting' as const, error: undefined } : j));
    jobsRef.current = next;
    setJobs(next);
    void pump();
  };

  const cancel = async (job: Job) => {
    const id = localStorage.getItem(job.key) ?? job.upload?.id;
    if (id) {
      try {
        await call('delete', '/uploads/{id}', { path: { id } });
      } catch {
        /* already gone */
      }
    }
    localStorage.removeItem(job.key);
    setJobs((js) => js.filter((j) => j.key !== job.key));
    setPending(remembered(projectId));
  };

  useEffect(() => {
    setPending(remembered(projectId));
    void loadOpen();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [projectId]);
  const busyNames = new Set(jobs.filter((j) => j.state !== 'complete' && j.state !== 'failed').map((j) => `${j.name}|${j.size}`));
  const local = pending.filter((p) => !jobs.some((j) => j.key === p.key));
  const unfinished: { id?: string; key?: string; name: string; size: number; received?: number }[] = [
    ...open.filter((o) => !busyNames.has(`${o.name}|${o.size}`)).map((o) => ({ id: o.id, name: o.name, size: o.size, received: o.received, key: local.find((l) => l.name === o.name && l.size === o.size)?.key })),
    ...local.filter((l) => !open.some((o) => o.name === l.name && o.size === l.size)),
  ];
  const discard = async (u: { id?: string; key?: string }) => {
    const id = u.id ?? (u.key ? localStorage.getItem(u.key) : null);
    if (id) await call('delete', '/uploads/{id}', { path: { id } }).catch(() => {});
    if (u.key) localStorage.removeItem(u.key);
    setPending(remembered(projectId));
    void loadOpen();
  };

  return (
    <div className="upload-panel" data-testid="upload-panel">
      <div className="inline-form">
        <label className="file-pick">
          <span>Choose files (zips are unpacked)</span>
          <input type="file" multiple aria-label="Choose files" onChange={(e) => { add(e.target.files); e.target.value = ''; }} />
        </label>
        <label className="file-pick">
          <span>Or a whole folder</span>
          <input type="file" multiple aria-label="Choose a folder" {...{ webkitdirectory: '', directory: '' }} onChange={(e) => { add(e.target.files); e.target.value = ''; }} />
        </label>
      </div>
      {unfinished.length > 0 ? (
        <div className="notice" data-testid="unfinished-uploads">
          <p>Unfinished uploads from before — choose the same file again to continue where it stopped:</p>
          <ul>
            {unfinished.map((p) => (
              <li key={p.id ?? p.key}>
                {p.name} ({p.received !== undefined ? `${bytes(p.received)} of ` : ''}{bytes(p.size)}){' '}
                <button type="button" className="link" onClick={() => void discard(p)}>Discard {p.name}</button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <ul className="upload-jobs" aria-label="Uploads">
        {jobs.map((j) => (
          <li key={j.key} data-testid="upload-job" data-state={j.state}>
            <div className="job-head">
              <strong>{j.name}</strong> <span className="muted">{bytes(j.size)}</span>
              {j.resumed ? <span className="tag">resumed</span> : null}
              <span className={`job-state job-${j.state}`}>{STATE_TEXT[j.state]}</span>
              {j.state === 'interrupted' ? (
                <button type="button" onClick={() => resume(j.key)}>Resume {j.name}</button>
              ) : null}
              {j.state === 'interrupted' || j.state === 'sending' ? (
                <button type="button" className="link" onClick={() => void cancel(j)}>Cancel</button>
              ) : null}
            </div>
            <Progress label={`Upload of ${j.name}`} value={j.state === 'processing' ? undefined : j.received} max={Math.max(1, j.size)} />
            {j.upload?.summary ? <p className="muted">{summaryText(j.upload.summary as Record<string, number>)}</p> : null}
            {j.error ? (
              <p className="field-error" role="alert">
                {j.error.message} <code className="code">{j.error.code}</code>
              </p>
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

const STATE_TEXT: Record<Job['state'], string> = {
  waiting: 'Waiting',
  sending: 'Sending',
  processing: 'Checking and encrypting',
  interrupted: 'Interrupted',
  complete: 'Received',
  failed: 'Failed',
};

function summaryText(s: Record<string, number>): string {
  const parts = [`${s.files ?? 0} file(s)`, `${s.accepted ?? 0} accepted`, `${s.rejected ?? 0} rejected`];
  if (s.duplicates) parts.push(`${s.duplicates} duplicate(s)`);
  parts.push(`${s.items ?? 0} item(s)`);
  return parts.join(' · ');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}
