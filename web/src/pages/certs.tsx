// A tasker's own tracks and certifications (the API shows taskers only theirs).
import { useEffect, useState } from 'react';
import { ApiError, call } from '../api/client';
import { Empty, formatTime } from '../kit/page';
import type { Certification } from './admin/Certifications';

export function MyCertifications() {
  const [certs, setCerts] = useState<Certification[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    call('get', '/certifications', { query: { per_page: 100 } }).then((p) => setCerts(p.items), (e) => setError(e as ApiError));
  }, []);
  if (error) return <p className="form-error" role="alert">{error.message} <code className="code">{error.code}</code></p>;
  if (!certs) return <p>Loading…</p>;
  if (certs.length === 0) return <Empty>You hold no certifications yet. An administrator grants them once you qualify in a track.</Empty>;
  return (
    <table aria-label="My certifications">
      <thead>
        <tr><th scope="col">Track</th><th scope="col">Status</th><th scope="col">Expires</th><th scope="col">Score</th></tr>
      </thead>
      <tbody>
        {certs.map((c) => (
          <tr key={c.id}>
            <td>{c.track_name}</td>
            <td className={`status-${c.status}`}>{c.status === 'active' ? 'Active' : c.status === 'suspended' ? `Suspended${c.reason ? ` — ${c.reason}` : ''}` : 'Expired'}</td>
            <td>{formatTime(c.expires_at)}</td>
            <td>{c.score === null || c.score === undefined ? '—' : `${Math.round(c.score * 100)} %`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
