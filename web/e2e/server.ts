// Starts the real binary on a free port with a fresh data directory, and talks
// to its API as a test harness would (set-up, users) — the UI under test is
// driven through the browser.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request, expect, type APIRequestContext, type Page } from '@playwright/test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.CLINLABEL_BIN ?? path.resolve(here, '..', '..', 'target', 'debug', 'clinlabel');

export interface DemoUser { role: string; email: string; password: string }

export interface Server {
  url: string;
  setupUrl: string | null;
  /** With `demo`: the accounts `serve --demo` printed. */
  demoUsers: DemoUser[];
  stop(): Promise<void>;
  log(): string;
}

export async function startServer(opts: { demo?: boolean } = {}): Promise<Server> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'clinlabel-e2e-'));
  const child: ChildProcess = spawn(BIN, ['serve', ...(opts.demo ? ['--demo'] : []), '--bind', '127.0.0.1:0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLINLABEL_LOG: process.env.CLINLABEL_LOG ?? 'warn' },
  });
  let output = '';
  child.stderr!.on('data', (d) => (output += d.toString()));
  let setupUrl: string | null = null;
  const demoUsers: DemoUser[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      output += `${line}\n`;
      const s = line.match(/(http:\/\/\S+\/setup#token=\S+)/);
      if (s) setupUrl = s[1]!;
      const d = line.match(/^demo user: (\S+) (\S+) (\S+)$/);
      if (d) demoUsers.push({ role: d[1]!, email: d[2]!, password: d[3]! });
      const m = line.match(/clinlabel: serving on (http:\/\/\S+)/);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`clinlabel exited (${code}) before serving:\n${output}`)));
    child.on('error', (e) => reject(new Error(`cannot start ${BIN}: ${e.message} (build it with \`cargo build -p clinlabel\`)`)));
  });
  return {
    url,
    setupUrl,
    demoUsers,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const ADMIN = { organisation: 'Acme Annotation Services', name: 'Ada Admin', email: 'ada@provider.test', password: 'correct horse battery staple' };
export const PASSWORD = 'a long enough password';

/** An API client signed in with a session (cookie + CSRF token), as the browser would be. */
export class Api {
  private constructor(readonly ctx: APIRequestContext, private csrf: string, readonly me: any) {}

  static async setup(server: Server): Promise<Api> {
    const token = new URL(server.setupUrl!.replace('#', '?')).searchParams.get('token')!;
    const ctx = await request.newContext({ baseURL: server.url });
    const r = await ctx.post('/api/v1/setup', { data: { token, organisation_name: ADMIN.organisation, email: ADMIN.email, name: ADMIN.name, password: ADMIN.password } });
    expect(r.status(), await r.text()).toBe(200);
    const me = await r.json();
    return new Api(ctx, me.csrf_token, me);
  }

  static async login(server: Server, email: string, password: string): Promise<Api> {
    const ctx = await request.newContext({ baseURL: server.url });
    const r = await ctx.post('/api/v1/auth/login', { data: { email, password } });
    expect(r.status(), await r.text()).toBe(200);
    const me = await r.json();
    return new Api(ctx, me.csrf_token, me);
  }

  async get(p: string): Promise<any> {
    const r = await this.ctx.get(`/api/v1${p}`);
    expect(r.ok(), `GET ${p}: ${r.status()} ${await r.text()}`).toBeTruthy();
    return r.json();
  }

  async send(method: 'post' | 'patch' | 'delete', p: string, data?: unknown): Promise<any> {
    const r = await this.ctx.fetch(`/api/v1${p}`, { method: method.toUpperCase(), data, headers: { 'X-CSRF-Token': this.csrf } });
    expect(r.ok(), `${method} ${p}: ${r.status()} ${await r.text()}`).toBeTruthy();
    return r.status() === 204 ? null : r.json();
  }

  /** Uploads one file into a project through the upload API (start, one chunk). */
  async upload(projectId: string, name: string, data: Buffer): Promise<any> {
    const u = await this.send('post', `/projects/${projectId}/uploads`, { name, size: data.length, purpose: 'data' });
    const r = await this.ctx.fetch(`/api/v1/uploads/${u.id}`, {
      method: 'PATCH',
      data,
      headers: { 'X-CSRF-Token': this.csrf, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    });
    expect(r.ok(), `PATCH upload: ${r.status()} ${await r.text()}`).toBeTruthy();
    return r.json();
  }

  async createOrg(name: string, kind: 'client' | 'provider'): Promise<{ id: string }> {
    return this.send('post', '/organisations', { name, kind });
  }

  async createUser(u: { org_id: string; email: string; name: string; role: string; password?: string }): Promise<{ id: string }> {
    return this.send('post', '/users', { password: PASSWORD, ...u });
  }

  async dispose() {
    await this.ctx.dispose();
  }
}

/** Signs in through the sign-in page. */
export async function signIn(page: Page, email: string, password: string) {
  await expect(page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Asserts the title is a page name, never data. */
export async function expectTitle(page: Page, name: string) {
  await expect(page).toHaveTitle(`clinlabel — ${name}`);
}
