// NDA and DPA: everyone reads the current versions; a client admin signs them
// with their typed full name; an administrator publishes new versions.
import { useState } from 'react';
import { call, type Schemas } from '../api/client';
import { FormError, SelectField, TextField, useApiForm } from '../kit/form';
import { useLoad, Show } from '../kit/load';
import { Empty, Page, Section, formatTime } from '../kit/page';
import { useToast } from '../kit/toast';
import { useMe } from '../session';

type Status = Schemas['AgreementStatus'];
const KIND_LABEL = { nda: 'Non-disclosure agreement (NDA)', dpa: 'Data processing agreement (DPA)' } as const;

export function Agreements() {
  const me = useMe();
  const l = useLoad(() => call('get', '/agreements'));
  const role = me.user.role;
  const isClient = role === 'client_admin' || role === 'client_member';
  return (
    <Page title="Agreements" testId="page-agreements">
      <p className="lede">
        Your organisation must sign the current NDA and DPA before it can upload any data. A new version must be signed again.
      </p>
      <Show l={l}>
        {(list) => (
          <>
            {(['nda', 'dpa'] as const).map((kind) => {
              const s = list.find((x) => x.kind === kind) ?? { kind, current: null, signature: null };
              return <AgreementCard key={kind} s={s} canSign={role === 'client_admin'} isClient={isClient} defaultName={me.user.name} onSigned={l.reload} />;
            })}
          </>
        )}
      </Show>
      {role === 'admin' ? <Publish onPublished={l.reload} /> : null}
    </Page>
  );
}

function AgreementCard({ s, canSign, isClient, defaultName, onSigned }: { s: Status; canSign: boolean; isClient: boolean; defaultName: string; onSigned: () => void }) {
  const f = useApiForm(['full_name'] as const);
  const [name, setName] = useState('');
  const toast = useToast();
  const title = KIND_LABEL[s.kind];
  return (
    <Section title={title} testId={`agreement-${s.kind}`}>
      {!s.current ? (
        <Empty>No version has been published yet.</Empty>
      ) : (
        <>
          <h3>
            {s.current.title} <span className="muted">· version {s.current.version} · published {formatTime(s.current.published_at)}</span>
          </h3>
          <div className="agreement-body" tabIndex={0} aria-label={`${s.current.title} text`}>{s.current.body}</div>
          {s.signature ? (
            <p className="ok" data-testid={`signed-${s.kind}`}>
              ✔ Signed by {s.signature.signer_name} on {formatTime(s.signature.signed_at)} (version {s.signature.version})
            </p>
          ) : isClient ? (
            <p className="bad" data-testid={`unsigned-${s.kind}`}>Not signed by your organisation.</p>
          ) : null}
          {canSign && !s.signature ? (
            <form
              className="inline-form"
              aria-label={`Sign the ${s.kind.toUpperCase()}`}
              onSubmit={f.submit(async () => {
                await call('post', '/agreements/{id}/sign', { path: { id: s.current!.id }, body: { full_name: name } });
                toast.push('success', `${s.kind.toUpperCase()} signed.`);
                onSigned();
              })}
            >
              <FormError error={f.formError} />
              <TextField
                label="Type your full name to sign"
                name={`full_name-${s.kind}`}
                value={name}
                placeholder={defaultName}
                onChange={(e) => setName(e.target.value)}
                error={f.fieldError('full_name')}
                required
                autoComplete="name"
              />
              <button type="submit" className="primary" disabled={f.busy}>Sign {s.kind.toUpperCase()}</button>
            </form>
          ) : null}
        </>
      )}
    </Section>
  );
}

function Publish({ onPublished }: { onPublished: () => void }) {
  const f = useApiForm(['kind', 'title', 'body'] as const);
  const [kind, setKind] = useState<'nda' | 'dpa'>('nda');
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const toast = useToast();
  return (
    <Section title="Publish a new version" testId="section-publish">
      <p className="muted">Every client organisation must sign the new version before uploading more data.</p>
      <form
        aria-label="Publish an agreement"
        onSubmit={f.submit(async () => {
          const a = await call('post', '/agreements', { body: { kind, title, body } });
          toast.push('success', `${a.kind.toUpperCase()} version ${a.version} published.`);
          setTitle('');
          setBody('');
          onPublished();
        })}
      >
        <FormError error={f.formError} />
        <SelectField label="Agreement" name="kind" value={kind} onChange={(e) => setKind(e.target.value as 'nda' | 'dpa')} error={f.fieldError('kind')}>
          <option value="nda">NDA</option>
          <option value="dpa">DPA</option>
        </SelectField>
        <TextField label="Title" name="title" value={title} onChange={(e) => setTitle(e.target.value)} error={f.fieldError('title')} required />
        <div className={`field${f.fieldError('body') ? ' has-error' : ''}`}>
          <label htmlFor="f-body">Text (Markdown)</label>
          <textarea id="f-body" rows={8} value={body} onChange={(e) => setBody(e.target.value)} required />
          {f.fieldError('body') ? <div className="field-error" role="alert">{f.fieldError('body')!.message} <code className="code">{f.fieldError('body')!.code}</code></div> : null}
        </div>
        <button type="submit" className="primary" disabled={f.busy}>Publish</button>
      </form>
    </Section>
  );
}
