import { Suspense, lazy, useEffect, type ComponentType, type ReactElement } from 'react';
import type { Role } from './api/client';
import { Page, ROLE_LABELS } from './kit/page';
import { useShortcuts } from './kit/shortcuts';
import { ChangePassword, Tokens } from './pages/Account';
import { Home } from './pages/Home';
import { SignIn } from './pages/SignIn';
import { Setup } from './pages/Setup';
import { Audit } from './pages/admin/Audit';
import { Certifications, Tracks } from './pages/admin/Certifications';
import { Organisations } from './pages/admin/Organisations';
import { UserDetail } from './pages/admin/UserDetail';
import { Users } from './pages/admin/Users';
import { Agreements } from './pages/agreements';
import { BatchPage, RateCardPage, TrackHealth } from './pages/qa';
import { DeliveriesPage } from './pages/deliveries';
import { ProjectList, ProjectPage } from './pages/project';
import { EditProject, NewProject } from './pages/spec';
import { Link, ParamsContext, match, navigate, usePath } from './router';
import { rememberReturnPath, useSession } from './session';

// The workspaces are loaded on demand: they are not part of the first load.
const workspace = () => import('./pages/work/workspace');
const AnnotatePage = lazy(() => workspace().then((m) => ({ default: m.AnnotatePage })));
const TaskPage = lazy(() => workspace().then((m) => ({ default: m.TaskPage })));
const ReviewPage = lazy(() => workspace().then((m) => ({ default: m.ReviewPage })));

interface Route { path: string; component: ComponentType; roles?: Role[] }
const ADMIN: Role[] = ['admin'];
const CLIENT: Role[] = ['client_admin', 'client_member'];
const PROJECTS: Role[] = ['client_admin', 'client_member', 'pm', 'admin', 'qa_reviewer'];
const ROUTES: Route[] = [
  { path: '/', component: Home },
  { path: '/agreements', component: Agreements },
  { path: '/projects', component: ProjectList, roles: PROJECTS },
  { path: '/projects/new', component: NewProject, roles: CLIENT },
  { path: '/projects/:id', component: ProjectPage, roles: PROJECTS },
  { path: '/projects/:id/edit', component: EditProject, roles: CLIENT },
  { path: '/projects/:id/deliveries', component: DeliveriesPage, roles: PROJECTS },
  { path: '/work', component: AnnotatePage, roles: ['tasker'] },
  { path: '/work/tasks/:id', component: TaskPage, roles: ['tasker'] },
  { path: '/review/:tier', component: ReviewPage, roles: ['tasker', 'qa_reviewer', 'pm'] },
  { path: '/batches/:id', component: BatchPage, roles: ['qa_reviewer', 'pm', 'admin'] },
  { path: '/quality', component: TrackHealth, roles: ['pm', 'qa_reviewer', 'admin'] },
  { path: '/rate-card', component: RateCardPage, roles: ['pm', 'admin'] },
  { path: '/account/password', component: ChangePassword },
  { path: '/account/tokens', component: Tokens },
  { path: '/admin/organisations', component: Organisations, roles: ADMIN },
  { path: '/admin/users', component: Users, roles: ADMIN },
  { path: '/admin/users/:id', component: UserDetail, roles: ADMIN },
  { path: '/admin/tracks', component: Tracks, roles: ADMIN },
  { path: '/admin/certifications', component: Certifications, roles: ADMIN },
  { path: '/admin/audit', component: Audit, roles: ADMIN },
];

export function App() {
  const path = usePath();
  const { me, loading } = useSession();
  if (path === '/setup') return <Setup />;
  if (loading) return <p className="loading" aria-busy="true">Loading…</p>;
  if (path === '/sign-in') {
    return me ? <Redirect to="/" /> : <SignIn />;
  }
  if (!me) return <Redirect to="/sign-in" remember={path} />;
  return <Shell path={path} />;
}

/** Navigates (replacing the entry) once mounted; `remember` keeps the path to come back to after sign-in. */
function Redirect({ to, remember }: { to: string; remember?: string }) {
  useEffect(() => {
    if (remember) rememberReturnPath(remember);
    navigate(to, { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return null;
}

function Shell({ path }: { path: string }) {
  const { me, signOut } = useSession();
  const role = me!.user.role;
  const isAdmin = role === 'admin';
  const isClient = role === 'client_admin' || role === 'client_member';
  const seesProjects = PROJECTS.includes(role);
  useShortcuts(
    [
      { keys: 'g h', description: 'Go to the home page', run: () => navigate('/') },
      ...(seesProjects ? [{ keys: 'g p', description: 'Go to projects', run: () => navigate('/projects') }] : []),
      ...(isClient || isAdmin ? [{ keys: 'g n', description: 'Go to the NDA and DPA', run: () => navigate('/agreements') }] : []),
      ...(isClient ? [{ keys: 'c', description: 'Create a new project', run: () => navigate('/projects/new') }] : []),
      ...(role === 'tasker' ? [{ keys: 'g w', description: 'Start annotating', run: () => navigate('/work') }, { keys: 'g r', description: 'Go to the tier 1 review queue', run: () => navigate('/review/1') }] : []),
      ...(role === 'qa_reviewer' ? [{ keys: 'g r', description: 'Go to the tier 2 review queue', run: () => navigate('/review/2') }] : []),
      ...(role === 'pm' ? [{ keys: 'g s', description: 'Go to the spot-check queue', run: () => navigate('/review/3') }] : []),
      ...(['pm', 'qa_reviewer', 'admin'].includes(role) ? [{ keys: 'g q', description: 'Go to tracks and accuracy', run: () => navigate('/quality') }] : []),
      ...(isAdmin
        ? [
            { keys: 'g u', description: 'Go to users', run: () => navigate('/admin/users') },
            { keys: 'g o', description: 'Go to organisations', run: () => navigate('/admin/organisations') },
            { keys: 'g c', description: 'Go to certifications', run: () => navigate('/admin/certifications') },
            { keys: 'g a', description: 'Go to the audit trail', run: () => navigate('/admin/audit') },
          ]
        : []),
    ],
    'global',
  );

  let page: ReactElement | null = null;
  for (const r of ROUTES) {
    const params = match(r.path, path);
    if (!params) continue;
    const C = r.component;
    page =
      r.roles && !r.roles.includes(role) ? (
        <NotPermitted />
      ) : (
        <ParamsContext.Provider value={params}>
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <C key={path} />
          </Suspense>
        </ParamsContext.Provider>
      );
    break;
  }

  const nav = (to: string, label: string) => (
    <Link to={to} aria-current={path === to || (to !== '/' && path.startsWith(`${to}/`)) ? 'page' : undefined}>{label}</Link>
  );
  return (
    <div className="shell">
      <header className="top">
        <Link to="/" className="brand">clinlabel</Link>
        <nav aria-label="Main">
          {nav('/', 'Home')}
          {seesProjects ? nav('/projects', 'Projects') : null}
          {isClient || isAdmin ? nav('/agreements', 'Agreements') : null}
          {role === 'tasker' ? nav('/work', 'Annotate') : null}
          {role === 'tasker' ? nav('/review/1', 'Peer review') : null}
          {role === 'qa_reviewer' ? nav('/review/2', 'QA review') : null}
          {role === 'pm' ? nav('/review/3', 'Spot-check') : null}
          {['pm', 'qa_reviewer', 'admin'].includes(role) ? nav('/quality', 'Tracks and accuracy') : null}
          {role === 'pm' || isAdmin ? nav('/rate-card', 'Rate card') : null}
          {isAdmin ? (
            <>
              {nav('/admin/organisations', 'Organisations')}
              {nav('/admin/users', 'Users')}
              {nav('/admin/tracks', 'Tracks')}
              {nav('/admin/certifications', 'Certifications')}
              {nav('/admin/audit', 'Audit')}
            </>
          ) : null}
        </nav>
        <div className="who">
          <span data-testid="who">{me!.user.name} · {ROLE_LABELS[role]}</span>
          {nav('/account/password', 'Password')}
          {nav('/account/tokens', 'API tokens')}
          <button type="button" className="link" onClick={() => void signOut()}>Sign out</button>
          <span className="hint" aria-hidden="true"><kbd>?</kbd> shortcuts</span>
        </div>
      </header>
      <main>{page ?? <NotFound />}</main>
    </div>
  );
}

function NotPermitted() {
  return (
    <Page title="Not permitted">
      <p>Your role does not give access to this page. <Link to="/">Go home</Link>.</p>
    </Page>
  );
}

function NotFound() {
  return (
    <Page title="Not found">
      <p>There is no such page. <Link to="/">Go home</Link>.</p>
    </Page>
  );
}
