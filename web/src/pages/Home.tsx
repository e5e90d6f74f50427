// One home page per role: what this person acts on next. Projects, batches and
// annotation arrive with later issues; until then their sections say so
// honestly, fed by nothing.
import { useEffect, useState } from 'react';
import { call, type Me, type User, type VerifyReport } from '../api/client';
import { DataTable } from '../kit/table';
import { Empty, Page, ROLE_LABELS, Section, formatTime } from '../kit/page';
import { Link, navigate } from '../router';
import { ErrorLine, useLoad } from '../kit/load';
import { BatchesAwaiting } from './qa';
import { useMe } from '../session';
import { MyCertifications } from './certs';
import { ProjectTable, ProjectsInStates } from './projects';

export function Home() {
  const me = useMe();
  const role = me.user.role;
  return (
    <Page title="Home" heading={`Welcome, ${me.user.name}`} testId={`home-${role}`}>
      <p className="lede">
        {ROLE_LABELS[role]} · {me.organisation.name}
      </p>
      {role === 'admin' ? <AdminHome /> : null}
      {role === 'client_admin' || role === 'client_member' ? <ClientHome me={me} /> : null}
      {role === 'pm' ? <PmHome /> : null}
      {role === 'qa_reviewer' ? <QaHome /> : null}
      {role === 'tasker' ? <TaskerHome /> : null}
    </Page>
  );
}

function ClientHome({ me }: { me: Me }) {
  const [unsigned, setUnsigned] = useState<string[] | null>(null);
  useEffect(() => {
    call('get', '/agreements').then((a) => setUnsigned(a.filter((x) => x.current && !x.signature).map((x) => x.kind.toUpperCase())), () => {});
  }, []);
  return (
    <>
      {unsigned && unsigned.length > 0 ? (
        <p className="notice" data-testid="agreements-needed">
          Your organisation must sign the current {unsigned.join(' and ')} before uploading data. <Link to="/agreements">Read and sign</Link>
        </p>
      ) : null}
      <Section title="Projects" testId="section-projects">
        <p><Link to="/projects/new" className="button primary">New project</Link></p>
        <ProjectTable label="Projects" empty="No projects yet." />
      </Section>
      {me.user.role === 'client_admin' ? (
        <Section title="Your team" testId="section-team">
          <DataTable<User>
            label="Team"
            columns={[
              { key: 'name', header: 'Name', sort: 'name', render: (u) => u.name },
              { key: 'email', header: 'E-mail', sort: 'email', render: (u) => u.email },
              { key: 'role', header: 'Role', sort: 'role', render: (u) => ROLE_LABELS[u.role] },
            ]}
            load={(r) => call('get', '/users', { query: { org_id: me.organisation.id, page: r.page, per_page: r.perPage, sort: r.sort, dir: r.dir } })}
            rowKey={(u) => u.id}
            initialSort={{ sort: 'name', dir: 'asc' }}
            empty="No one else in your organisation yet."
          />
        </Section>
      ) : null}
    </>
  );
}

function PmHome() {
  return (
    <>
      <Section title="Specifications waiting for review" testId="section-specs">
        <ProjectTable state="submitted" label="Specifications waiting for review" empty="No specifications waiting for review." />
      </Section>
      <Section title="Projects in flight" testId="section-projects">
        <ProjectsInStates states={['approved', 'in_progress', 'in_qa']} label="Projects in flight" empty="No projects in flight." />
      </Section>
      <div className="grid">
        <Section title="Spot-check" testId="section-spot-check">
          <p>Tier 3: a seeded 5–10 % sample of every finished batch.</p>
          <Link to="/review/3" className="button primary">Open the spot-check queue</Link>
        </Section>
        <Section title="Tracks and accuracy" testId="section-quality">
          <p>Certification health per track and each tasker’s rolling gold accuracy.</p>
          <Link to="/quality">Tracks and accuracy</Link> · <Link to="/rate-card">Rate card</Link>
        </Section>
      </div>
    </>
  );
}

function QaHome() {
  return (
    <>
      <Section title="Tier 2 review" testId="section-review">
        <p>Annotations sampled for QA review, blind.</p>
        <Link to="/review/2" className="button primary">Open the tier 2 queue</Link>
      </Section>
      <Section title="Batches waiting for approval" testId="section-batches">
        <BatchesAwaiting />
      </Section>
    </>
  );
}

function TaskerHome() {
  const [certified, setCertified] = useState<boolean | null>(null);
  useEffect(() => {
    call('get', '/certifications', { query: { status: 'active', per_page: 1 } }).then((r) => setCertified(r.total > 0), () => setCertified(false));
  }, []);
  return (
    <>
      <Section title="Start annotating" testId="section-start">
        <p>Tasks are routed to you in the tracks you are certified for.</p>
        <button type="button" className="primary" disabled={!certified} aria-describedby="no-tasks" onClick={() => navigate('/work')}>Start annotating</button>{' '}
        <button type="button" disabled={!certified} onClick={() => navigate('/review/1')}>Peer review (tier 1)</button>
        {certified === false ? <p className="empty" id="no-tasks">No tasks are waiting for you: you hold no active certification.</p> : null}
      </Section>
      <Section title="My tracks and certifications" testId="section-certifications">
        <MyCertifications />
      </Section>
      <Section title="Returned work" testId="section-returned">
        <ReturnedWork />
      </Section>
    </>
  );
}

function AdminHome() {
  const [counts, setCounts] = useState<{ orgs: number; users: number } | null>(null);
  const [verify, setVerify] = useState<VerifyReport | null>(null);
  useEffect(() => {
    Promise.all([call('get', '/organisations', { query: { per_page: 1 } }), call('get', '/users', { query: { per_page: 1 } })]).then(
      ([o, u]) => setCounts({ orgs: o.total, users: u.total }),
      () => {},
    );
    call('get', '/audit/verify').then(setVerify, () => {});
  }, []);
  return (
    <div className="grid">
      <Section title="Organisations" testId="section-organisations">
        <p className="big">{counts ? counts.orgs : '…'}</p>
        <Link to="/admin/organisations">Manage organisations</Link>
      </Section>
      <Section title="Users and roles" testId="section-users">
        <p className="big">{counts ? counts.users : '…'}</p>
        <Link to="/admin/users">Manage users</Link>
      </Section>
      <Section title="Specialist tracks and certifications" testId="section-tracks">
        <p>Tracks define what taskers may annotate; certifications grant them.</p>
        <Link to="/admin/tracks">Tracks</Link> · <Link to="/admin/certifications">Certifications</Link>
      </Section>
      <Section title="Audit trail" testId="section-audit">
        {verify ? (
          <p className={verify.ok ? 'ok' : 'bad'}>
            {verify.ok ? 'Chain intact' : 'Chain broken'} · {verify.events_checked} events checked
          </p>
        ) : (
          <p>…</p>
        )}
        <Link to="/admin/audit">Open the audit trail</Link>
      </Section>
    </div>
  );
}

function ReturnedWork() {
  const l = useLoad(() => call('get', '/tasks/returned'));
  if (l.error) return <ErrorLine error={l.error} />;
  if (!l.data) return <p aria-busy="true">Loading…</p>;
  if (l.data.length === 0) return <Empty>No work has been returned to you.</Empty>;
  return (
    <table aria-label="Returned work">
      <thead>
        <tr><th scope="col">Project</th><th scope="col">Feedback</th><th scope="col">Due</th><th scope="col"></th></tr>
      </thead>
      <tbody>
        {l.data.map((t) => (
          <tr key={t.id}>
            <td>{t.project_name}</td>
            <td>{t.reviews.reduce((n, r) => n + r.comments.length, 0)} comment(s)</td>
            <td>{formatTime(t.deadline)}</td>
            <td><Link to={`/work/tasks/${t.id}`} className="button">Rework</Link></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export { formatTime };
