// Forms that put the API's error next to the field it names.
//
// An `ApiError` whose `details.field` names one of the form's fields (or whose
// code implies one, e.g. `email_taken` → email) is shown under that field with
// its code; anything else is shown at the top of the form.
import { useState, type FormEvent, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { ApiError } from '../api/client';

export interface FieldError { code: string; message: string }

const CODE_FIELDS: Record<string, string[]> = {
  email_taken: ['email'],
  weak_password: ['password', 'new_password'],
  wrong_password: ['current_password'],
  role_not_allowed_in_organisation: ['role'],
  setup_token_invalid: ['token'],
  track_slug_taken: ['slug'],
  not_a_tasker: ['user_id'],
};

export function useApiForm<F extends string>(fields: readonly F[]) {
  const [errors, setErrors] = useState<Partial<Record<F, FieldError>>>({});
  const [formError, setFormError] = useState<FieldError | null>(null);
  const [busy, setBusy] = useState(false);

  const clear = () => {
    setErrors({});
    setFormError(null);
  };

  /** Shows an error (from the API or the client's own checks). */
  const show = (e: unknown) => {
    if (!(e instanceof ApiError)) {
      setFormError({ code: 'unknown', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    const fe = { code: e.code, message: e.message };
    const candidates = [e.field, ...(CODE_FIELDS[e.code] ?? [])].filter((f): f is string => !!f);
    // A path such as `password` or `items[0].name`: match on the leading name.
    const field = candidates.map((c) => c.split(/[.[]/)[0]).find((c): c is F => (fields as readonly string[]).includes(c ?? ''));
    if (field) setErrors({ [field]: fe } as Partial<Record<F, FieldError>>);
    else setFormError(fe);
  };

  /** Runs `action` for a submit event, with busy state and error mapping. Returns true on success. */
  const submit = (action: () => Promise<void>) => async (ev?: FormEvent) => {
    ev?.preventDefault();
    if (busy) return false;
    clear();
    setBusy(true);
    try {
      await action();
      return true;
    } catch (e) {
      show(e);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (f: F) => errors[f];
  const setFieldError = (f: F, e: FieldError) => setErrors((x) => ({ ...x, [f]: e }));
  return { errors, fieldError, setFieldError, formError, busy, submit, clear, show };
}

export function FormError({ error }: { error: FieldError | null }) {
  if (!error) return null;
  return (
    <div className="form-error" role="alert" data-testid="form-error">
      {error.message} <code className="code">{error.code}</code>
    </div>
  );
}

interface FieldProps { label: string; name: string; error?: FieldError; hint?: ReactNode }

function FieldShell({ label, name, error, hint, children }: FieldProps & { children: ReactNode }) {
  return (
    <div className={`field${error ? ' has-error' : ''}`} data-field={name}>
      <label htmlFor={`f-${name}`}>{label}</label>
      {children}
      {hint ? <div className="hint" id={`h-${name}`}>{hint}</div> : null}
      {error ? (
        <div className="field-error" id={`e-${name}`} role="alert" data-testid={`error-${name}`}>
          {error.message} <code className="code">{error.code}</code>
        </div>
      ) : null}
    </div>
  );
}

export function TextField({ label, name, error, hint, ...input }: FieldProps & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <FieldShell label={label} name={name} error={error} hint={hint}>
      <input
        id={`f-${name}`}
        name={name}
        aria-invalid={error ? true : undefined}
        aria-describedby={[error ? `e-${name}` : '', hint ? `h-${name}` : ''].filter(Boolean).join(' ') || undefined}
        {...input}
      />
    </FieldShell>
  );
}

export function SelectField({ label, name, error, hint, children, ...select }: FieldProps & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <FieldShell label={label} name={name} error={error} hint={hint}>
      <select id={`f-${name}`} name={name} aria-invalid={error ? true : undefined} aria-describedby={error ? `e-${name}` : undefined} {...select}>
        {children}
      </select>
    </FieldShell>
  );
}
