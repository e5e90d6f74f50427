// Certified delivery (step 7): the PM builds versions, the QA reviewer in
// charge signs the certification, and the client's data room shows the
// completion report, download links (expiring, revocable) and who
// downloaded what. A client member without the download right sees the
// report only.
import { useState } from 'react';
import { ApiError, call, type Schemas } from '../api/client';
import { ErrorLine, Show, asApiError, pct, useLoad } from '../kit/load';
import { Empty, Page, Section, formatTime } from '../kit/page';
import { useToast } from '../kit/toast';
import { Link, useParams } from '../router';
import { useMe } from '../session';

type Delivery = Schemas['Delivery'];
type DeliveryLink = Schemas['Link'];

const STATE: Record<string, string> = { building: 'Building', built: 'Built — awaiting QA certification', certified: 'Certified', failed: 'Failed' };

export function DeliveriesPage() {
  const { id } = useParams();
  const me = useMe();
  const project = useLoad(() => call('get', '/projects/{id}', { path: { id: id! } }), [id]);
  const list = useLoad(() => call('get', '/projects/{id}/deliveries', { path: { id: id! } }), [id]);
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const role = me.user.role;

  const build = async () => {
    setErr(null);
    setBusy(true);
    try {
      const d = await call('post', '/projects/{id}/deliveries', { path: { id: id! } });
      toast.push('success', `Delivery version ${d.version} built and signed by the service.`);
      list.reload();
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page
      title="Delivery"
      heading={project.data ? `Delivery: ${project.data.spec.name}` : 'Delivery'}
      testId="page-deliveries"
      actions={
        role === 'pm' ? (
          <button type="button" onClick={build} disabled={busy} data-testid="build-delivery">
            {busy ? 'Building…' : 'Build delivery'}
          </button>
        ) : null
      }
    >
      <p className="lede">
        <Link to={`/projects/${id}`}>Back to the project</Link>
      </p>
      <ErrorLine error={err} />
      <Show l={list}>
        {(ds) =>
          ds.length === 0 ? (
            <Empty>{role === 'pm' ? 'No delivery yet: build one once every batch is approved.' : 'No certified delivery yet.'}</Empty>
          ) : (
            <>
              <Section title="Versions" testId="delivery-versions">
                <table aria-label="Delivery versions">
                  <thead>
                    <tr><th scope="col">Version</th><th scope="col">State</th><th scope="col">Built</th><th scope="col">Items</th><th scope="col">Annotations</th><th scope="col">Manifest SHA-256</th><th scope="col">Certified by</th></tr>
                  </thead>
                  <tbody>
                    {ds.map((d) => (
                      <tr key={d.id} data-testid={`delivery-row-${d.version}`}>
                        <td>v{d.version}</td>
                        <td data-testid="delivery-state">{STATE[d.state] ?? d.state}</td>
                        <td>{formatTime(d.built_at)}</td>
                        <td>{d.items}</td>
                        <td>{d.annotations}</td>
                        <td><code title={d.manifest_sha256 ?? ''}>{d.manifest_sha256 ? d.manifest_sha256.slice(0, 16) + '…' : '—'}</code></td>
                        <td>{d.certified_by_name ? `${d.certified_by_name}, ${formatTime(d.certified_at)}` : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Section>
              {ds.map((d) => (
                <DeliveryCard key={d.id} d={d} onChange={list.reload} />
              ))}
              {role === 'client_admin' || role === 'pm' || role === 'admin' ? (
                <Section title="Audit trail" testId="audit-export">
                  <p>
                    <a href={`/api/v1/projects/${id}/audit.jsonl`} download>Download the project’s audit trail (JSONL with the hash chain)</a>; the README of clinlabel
                    describes how to verify it without clinlabel.
                  </p>
                </Section>
              ) : null}
              {role === 'client_admin' ? <DownloadRights projectId={id!} orgId={me.user.org_id} /> : null}
            </>
          )
        }
      </Show>
    </Page>
  );
}

function DeliveryCard({ d, onChange }: { d: Delivery; onChange: () => void }) {
  const me = useMe();
  return (
    <Section title={`Version ${d.version}`} testId={`delivery-${d.version}`}>
      {d.state === 'failed' ? <p className="bad">The build failed{d.error ? `: ${d.error}` : ''}.</p> : null}
      {d.state === 'built' && me.user.role === 'qa_reviewer' ? <SignForm d={d} onSigned={onChange} /> : null}
      {d.statement ? (
        <blockquote data-testid="certification-statement">
          “{d.statement}” — {d.certified_by_name}, {formatTime(d.certified_at)}
        </blockquote>
      ) : null}
      {d.state === 'built' || d.state === 'certified' ? (
        <p>
          <a href={`/api/v1/deliveries/${d.id}/report.html`} target="_blank" rel="noreferrer" data-testid="report-html">Completion report (HTML)</a> ·{' '}
          <a href={`/api/v1/deliveries/${d.id}/report.pdf`} data-testid="report-pdf" download>Completion report (PDF)</a>
        </p>
      ) : null}
      {d.state === 'built' || d.state === 'certified' ? <ReportSummary id={d.id} /> : null}
      {d.state === 'certified' ? <DataRoom d={d} /> : null}
    </Section>
  );
}

function SignForm({ d, onSigned }: { d: Delivery; onSigned: () => void }) {
  const [statement, setStatement] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const sign = async () => {
    setErr(null);
    setBusy(true);
    try {
      await call('post', '/deliveries/{id}/certify', { path: { id: d.id }, body: { statement, password } });
      toast.push('success', `Version ${d.version} certified.`);
      onSigned();
    } catch (e) {
      setErr(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="stack"
      data-testid="sign-form"
      onSubmit={(e) => {
        e.preventDefault();
        void sign();
      }}
    >
      <p>
        Your statement is bound to the manifest <code>{d.manifest_sha256}</code>: it certifies exactly these files.
      </p>
      <label>
        Certification statement
        <textarea name="statement" rows={3} value={statement} onChange={(e) => setStatement(e.target.value)} required />
      </label>
      <label>
        Your password (to sign)
        <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      </label>
      <ErrorLine error={err} />
      <button type="submit" disabled={busy}>{busy ? 'Signing…' : 'Sign certification'}</button>
    </form>
  );
}

function ReportSummary({ id }: { id: string }) {
  const r = useLoad(() => call('get', '/deliveries/{id}/report', { path: { id } }), [id]);
  return (
    <Show l={r}>
      {(rep) => {
        const report = rep as unknown as { agreement: { scope: string; name: string; units: number; alpha?: number | null; ci_lower?: number | null; ci_upper?: number | null; percent_agreement?: number | null }[]; items: number; annotations: number; agreement_method: string };
        return (
          <>
            <table aria-label="Agreement" data-testid="report-agreement">
              <thead>
                <tr><th scope="col">Question / label</th><th scope="col">Items</th><th scope="col">α</th><th scope="col">95% CI</th><th scope="col">Percent agreement</th></tr>
              </thead>
              <tbody>
                {report.agreement.map((a, i) => (
                  <tr key={i}>
                    <td>{a.scope === 'label' ? '\u00a0\u00a0' + a.name : a.name}</td>
                    <td>{a.units}</td>
                    <td>{a.alpha === null || a.alpha === undefined ? 'n/a' : a.alpha.toFixed(2)}</td>
                    <td>{a.ci_lower !== null && a.ci_lower !== undefined && a.ci_upper !== null && a.ci_upper !== undefined ? `${a.ci_lower.toFixed(2)} to ${a.ci_upper.toFixed(2)}` : 'n/a'}</td>
                    <td>{pct(a.percent_agreement, 1)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p className="muted">{report.agreement_method}</p>
          </>
        );
      }}
    </Show>
  );
}

function DataRoom({ d }: { d: Delivery }) {
  const links = useLoad(() => (d.can_download ? call('get', '/deliveries/{id}/links', { path: { id: d.id } }) : Promise.resolve([] as DeliveryLink[])), [d.id, d.can_download]);
  const log = useLoad(() => (d.can_download ? call('get', '/deliveries/{id}/downloads', { path: { id: d.id } }) : Promise.resolve([])), [d.id, d.can_download]);
  const [fresh, setFresh] = useState<Record<string, string>>({});
  const [err, setErr] = useState<ApiError | null>(null);
  const toast = useToast();
  if (!d.can_download) {
    return (
      <p className="muted" data-testid="no-download-right">
        You can read the report; downloading the data needs the download right from your client admin.
      </p>
    );
  }
  const create = async (fileId?: string) => {
    setErr(null);
    try {
      const r = await call('post', '/deliveries/{id}/links', { path: { id: d.id }, body: fileId ? { file_id: fileId } : {} });
      setFresh((f) => ({ ...f, [r.link.id]: r.url }));
      links.reload();
    } catch (e) {
      setErr(asApiError(e));
    }
  };
  const revoke = async (l: DeliveryLink) => {
    setErr(null);
    try {
      await call('delete', '/data-room/links/{id}', { path: { id: l.id } });
      toast.push('success', 'Link revoked.');
      links.reload();
    } catch (e) {
      setErr(asApiError(e));
    }
  };
  return (
    <div data-testid="data-room">
      <h3>Data room</h3>
      <ErrorLine error={err} />
      <p>
        <button type="button" onClick={() => void create()} data-testid="create-zip-link">New link to the whole delivery (zip)</button>
      </p>
      <table aria-label="Files">
        <thead>
          <tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">SHA-256</th><th scope="col"></th></tr>
        </thead>
        <tbody>
          {d.files.map((f) => (
            <tr key={f.id}>
              <td>{f.path}</td>
              <td>{f.size.toLocaleString()} bytes</td>
              <td><code title={f.sha256}>{f.sha256.slice(0, 16)}…</code></td>
              <td><button type="button" className="link" onClick={() => void create(f.id)}>New link</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <Show l={links}>
        {(ls) =>
          ls.length === 0 ? (
            <Empty>No links yet.</Empty>
          ) : (
            <table aria-label="Links" data-testid="links">
              <thead>
                <tr><th scope="col">Link</th><th scope="col">For</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col"></th></tr>
              </thead>
              <tbody>
                {ls.map((l) => (
                  <tr key={l.id} data-testid="link-row">
                    <td><code>{l.prefix}…</code></td>
                    <td>{l.file_path ?? 'whole delivery (zip)'}</td>
                    <td>{formatTime(l.expires_at)}</td>
                    <td data-testid="link-status">{l.status}</td>
                    <td>
                      {fresh[l.id] && l.status === 'active' ? (
                        <a href={fresh[l.id]} download data-testid="download-link">Download</a>
                      ) : null}{' '}
                      {l.status === 'active' ? <button type="button" className="link" onClick={() => void revoke(l)} data-testid="revoke-link">Revoke</button> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Show l={log}>
        {(events) => (
          <table aria-label="Downloads" data-testid="download-log">
            <thead>
              <tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Bytes</th></tr>
            </thead>
            <tbody>
              {events.length === 0 ? (
                <tr><td colSpan={4}>No downloads yet.</td></tr>
              ) : (
                events.map((e, i) => (
                  <tr key={i}>
                    <td>{formatTime(e.at)}</td>
                    <td>{e.user_name}</td>
                    <td>{e.what}</td>
                    <td>{e.range_start !== null && e.range_start !== undefined ? `${e.range_start}–${e.range_end}` : 'all'}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        )}
      </Show>
    </div>
  );
}

function DownloadRights({ projectId, orgId }: { projectId: string; orgId: string }) {
  const members = useLoad(() => call('get', '/users', { query: { org_id: orgId, role: 'client_member', per_page: 200 } }), [orgId]);
  const granted = useLoad(() => call('get', '/projects/{id}/data-room/downloaders', { path: { id: projectId } }), [projectId]);
  const [err, setErr] = useState<ApiError | null>(null);
  // What the admin just chose shows at once; a failure puts it back.
  const [chosen, setChosen] = useState<Record<string, boolean>>({});
  const set = async (userId: string, grant: boolean) => {
    setErr(null);
    setChosen((c) => ({ ...c, [userId]: grant }));
    try {
      await call(grant ? 'put' : 'delete', '/projects/{id}/data-room/downloaders/{user_id}', { path: { id: projectId, user_id: userId } });
      granted.reload();
    } catch (e) {
      setChosen((c) => ({ ...c, [userId]: !grant }));
      setErr(asApiError(e));
    }
  };
  return (
    <Section title="Download rights" testId="download-rights">
      <p className="muted">Client admins always download; members download only with this right. Everyone in your organisation reads the report.</p>
      <ErrorLine error={err} />
      <Show l={members}>
        {(ms) =>
          ms.items.length === 0 ? (
            <Empty>Your organisation has no members.</Empty>
          ) : (
            <table aria-label="Download rights">
              <thead>
                <tr><th scope="col">Member</th><th scope="col">Download right</th></tr>
              </thead>
              <tbody>
                {ms.items.map((u) => {
                  const has = chosen[u.id] ?? (granted.data ?? []).some((g) => g.user_id === u.id);
                  return (
                    <tr key={u.id}>
                      <td>{u.name}</td>
                      <td>
                        <label>
                          <input type="checkbox" checked={has} onChange={(e) => void set(u.id, e.target.checked)} /> may download
                        </label>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Show>
    </Section>
  );
}
