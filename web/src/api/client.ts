// The typed API client. Paths, methods, bodies, queries and responses are all
// checked against `schema.ts`, which is generated from the server's OpenAPI
// document: a server change that breaks the app breaks `tsc` (and the build).
//
// - adds `X-CSRF-Token` to every state-changing request of the cookie session;
// - turns `{code, message, details?}` error bodies into `ApiError`;
// - on 401 `session_expired` / `not_signed_in` hands over to the session
//   handler (which sends the person to sign-in and back afterwards).
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ErrorCode = Schemas['ErrorCode'];

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Json<R> = R extends { content: { 'application/json': infer B } } ? B : void;
type Ok<O> = O extends { responses: infer R }
  ? 200 extends keyof R
    ? Json<R[200]>
    : 201 extends keyof R
      ? Json<R[201]>
      : void
  : never;
type Body<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;
type NonNullish<T> = [T] extends [never] ? never : T extends undefined ? never : T;
// Query parameters; some routes' parameters are (still) declared `in: path` in
// the document, so fall back to those, minus what the path itself names.
type Params<O> = O extends { parameters: infer P }
  ? P extends { query?: infer Q }
    ? [NonNullish<Q>] extends [never]
      ? P extends { path?: infer X } ? NonNullish<X> : never
      : NonNullish<Q>
    : never
  : never;
type Nullable<T> = { [K in keyof T]?: T[K] | null | undefined };

export type Op<P extends keyof paths, M extends Method> = paths[P][M];
export type Result<P extends keyof paths, M extends Method> = Ok<Op<P, M>>;

export interface CallOptions<O> {
  /** Values for `{name}` segments of the path. */
  path?: Record<string, string>;
  query?: Nullable<Params<O>>;
  body?: Body<O>;
  /** Do not hand a 401 over to the session handler (sign-in probes). */
  quiet401?: boolean;
}

/** An error answered by the API (or a network failure, code `network`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | 'network' | 'unknown';
  readonly details: Record<string, unknown> | undefined;
  constructor(status: number, code: ApiError['code'], message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** The request field the server names as the culprit, if any. */
  get field(): string | undefined {
    const f = this.details?.['field'];
    return typeof f === 'string' ? f : undefined;
  }
}

let csrfToken: string | null = null;
let onUnauthorized: ((e: ApiError) => void) | null = null;

/** The CSRF token of the current cookie session (from sign-in, setup or /auth/me). */
export function setCsrfToken(token: string | null | undefined) {
  csrfToken = token ?? null;
}
/** The current CSRF token (for raw requests such as upload chunks). */
export function csrfToken_(): string | null {
  return csrfToken;
}
/** Hands an error met outside `call` (raw requests) to the session handler when it means the session ended. */
export function reportUnauthorized(e: ApiError) {
  if (e.status === 401 && (e.code === 'session_expired' || e.code === 'not_signed_in')) onUnauthorized?.(e);
}
/** Called when a request meets `session_expired` / `not_signed_in`. */
export function setUnauthorizedHandler(h: ((e: ApiError) => void) | null) {
  onUnauthorized = h;
}

function buildUrl(template: string, opts: { path?: Record<string, string>; query?: Record<string, unknown> }) {
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = opts.path?.[name];
    if (v === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(v);
  });
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  if (qs) url += `?${qs}`;
  return `/api/v1${url}`;
}

export async function call<P extends keyof paths, M extends Method & keyof paths[P]>(
  method: M,
  path: P,
  opts: CallOptions<Op<P, M>> = {},
): Promise<Result<P, M>> {
  const url = buildUrl(path as string, opts as { path?: Record<string, string>; query?: Record<string, unknown> });
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'get' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(url, {
      method: method.toUpperCase(),
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  if (res.ok) {
    if (res.status === 204) return undefined as Result<P, M>;
    return (await res.json()) as Result<P, M>;
  }
  let err: ApiError;
  try {
    const b = (await res.json()) as Schemas['ErrorBody'];
    err = new ApiError(res.status, b.code, b.message, (b.details ?? undefined) as Record<string, unknown> | undefined);
  } catch {
    err = new ApiError(res.status, 'unknown', `The server answered ${res.status}.`);
  }
  if (res.status === 401 && (err.code === 'session_expired' || err.code === 'not_signed_in') && !opts.quiet401) {
    onUnauthorized?.(err);
  }
  throw err;
}

export type Me = Schemas['Me'];
export type User = Schemas['User'];
export type Role = Schemas['Role'];
export type Organisation = Schemas['Organisation'];
export type AuditEvent = Schemas['AuditEventView'];
export type VerifyReport = Schemas['VerifyReport'];
export type ApiToken = Schemas['ApiToken'];
export type Project = Schemas['Project'];
export type Spec = Schemas['Spec'];
export type TaskView = Schemas['TaskView'];
export type BatchView = Schemas['BatchView'];
export type Quote = Schemas['Quote'];
export type Pricing = Schemas['Pricing'];
export type Upload = Schemas['Upload'];
export type FileView = Schemas['FileView'];
export type ItemView = Schemas['ItemView'];
export type Track = Schemas['Track'];
