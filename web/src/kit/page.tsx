import { useEffect, type ReactNode } from 'react';

/** Sets `document.title` to "clinlabel — <name>". Pass a page name, never data (no PHI in titles). */
export function usePageTitle(name: string) {
  useEffect(() => {
    document.title = `clinlabel — ${name}`;
  }, [name]);
}

export function Page({ title, heading, actions, children, testId }: { title: string; heading?: ReactNode; actions?: ReactNode; children: ReactNode; testId?: string }) {
  usePageTitle(title);
  return (
    <section className="page" data-testid={testId}>
      <header className="page-head">
        <h1>{heading ?? title}</h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <section className="card" data-testid={testId} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : dateFmt.format(new Date(ms));
}

export const ROLE_LABELS: Record<string, string> = {
  client_admin: 'Client admin',
  client_member: 'Client member',
  pm: 'Project manager',
  qa_reviewer: 'QA reviewer',
  tasker: 'Tasker',
  admin: 'Administrator',
};
