// One home page per role: what this person acts on next. Projects, batches and
// annotation arrive with later issues; until then their sections say so
// honestly, fed by nothing.
import { useEffect, useState } from 'react';
import { call, type Me, type User, type VerifyReport } from '../api/client';
import { DataTable } from '../kit/table';
import { Empty, Page, ROLE_LABELS, Section, formatTime } from '../kit/page';
import { Link } from '../router';
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
    </>
  );
}

function QaHome() {
  return (
    <Section title="Batches waiting for review" testId="section-batches">
      <Empty>No batches waiting for review.</Empty>
    </Section>
  );
}

function TaskerHome() {
  return (
    <>
      <Section title="Start annotating" testId="section-start">
        <p>Tasks are routed to you in the tracks you are certified for.</p>
        <button type="button" className="primary" disabled aria-describedby="no-tasks">Start annotating</button>
        <p className="empty" id="no-tasks">No tasks are waiting for you.</p>
      </Section>
      <Section title="My tracks and certifications" testId="section-certifications">
        <MyCertifications />
      </Section>
      <Section title="Returned work" testId="section-returned">
        <Empty>No work has been returned to you.</Empty>
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

export { formatTime };
