// Certified delivery, from an approved batch to a verified download: the
// engine's flow (two taskers with overlap 2, the PM's spot-check, the QA
// reviewer's approval — driven through the API here; batch.spec.ts and
// annotation.spec.ts drive it through the pages) leaves an approved batch;
// then in the browser the PM builds the delivery, the QA reviewer signs the
// certification, and the client downloads the zip and the report from the
// data room. `clinlabel delivery verify` passes on the downloaded zip and
// fails, naming the file, on a copy with one byte changed; a revoked link
// answers 410. A client member without the download right sees the report only.
import { expect, test, type Browser, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Api, BIN, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
const PEOPLE = {
  client: { email: 'dora@client.test', name: 'Dora Client' },
  member: { email: 'mo@client.test', name: 'Mo Member' },
  pm: { email: 'pete@provider.test', name: 'Pete Manager' },
  qa: { email: 'quill@provider.test', name: 'Quill Reviewer' },
  a: { email: 'ari@provider.test', name: 'Ari Tasker' },
  b: { email: 'bo@provider.test', name: 'Bo Tasker' },
};
let projectId = '';

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Riverside Clinic', 'client');
  const prov = admin.me.organisation.id;
  await admin.createUser({ org_id: org.id, email: PEOPLE.client.email, name: PEOPLE.client.name, role: 'client_admin' });
  await admin.createUser({ org_id: org.id, email: PEOPLE.member.email, name: PEOPLE.member.name, role: 'client_member' });
  await admin.createUser({ org_id: prov, email: PEOPLE.pm.email, name: PEOPLE.pm.name, role: 'pm' });
  await admin.createUser({ org_id: prov, email: PEOPLE.qa.email, name: PEOPLE.qa.name, role: 'qa_reviewer' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-delivery', name: 'E2E Delivery letters' });
  for (const t of [PEOPLE.a, PEOPLE.b]) {
    const u = await admin.createUser({ org_id: prov, email: t.email, name: t.name, role: 'tasker' });
    await admin.send('post', '/certifications', { user_id: u.id, track_id: track.id, expires_at: Date.now() + 365 * 86_400_000 });
  }
  const nda = await admin.send('post', '/agreements', { kind: 'nda', title: 'Mutual NDA', body: 'Confidential.' });
  const dpa = await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: 'Processing on instructions only.' });
  await admin.dispose();
  const client = await Api.login(server, PEOPLE.client.email, PASSWORD);
  for (const a of [nda, dpa]) await client.send('post', `/agreements/${a.id}/sign`, { full_name: PEOPLE.client.name });
  const p = await client.send('post', '/projects', {
    name: 'Clinic letters — delivery',
    modality: 'text',
    task_types: ['classification'],
    schema: { questions: [{ id: 'specialty', text: 'Which specialty wrote the letter?', kind: 'single', options: [{ id: 'cardiology', name: 'Cardiology', hotkey: '1' }, { id: 'oncology', name: 'Oncology', hotkey: '2' }] }] },
    guidelines: 'Choose the specialty.',
    output_formats: ['native_jsonl'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 2,
    gold_rate: 0,
    qa: { tier1: false, tier2_sampling_pct: 0, tier3_spot_check_pct: 10, quality_threshold: 0.5, max_rework_rounds: 2 },
  });
  projectId = p.id;
  for (let i = 1; i <= 4; i++) await client.upload(p.id, `letter-${i}.txt`, Buffer.from(`Letter ${i}: ${i % 2 ? 'chest pain, ECG changes' : 'new lymphoma, chemotherapy'}.\n`));
  await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
  const pm = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
  await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
  await pm.send('post', `/projects/${p.id}/steps`, { step: 'start' });
  // Both taskers annotate every letter (one disagreement), the PM spot-checks, the QA reviewer approves.
  const items: { id: string; seq: number }[] = (await client.get(`/projects/${p.id}/items?per_page=100`)).items;
  const order = new Map(items.map((it, i) => [it.id, i]));
  for (const [t, answers] of [[PEOPLE.a, ['cardiology', 'oncology', 'cardiology', 'oncology']], [PEOPLE.b, ['cardiology', 'oncology', 'cardiology', 'cardiology']]] as const) {
    const api = await Api.login(server, t.email, PASSWORD);
    for (;;) {
      const r = await api.ctx.post('/api/v1/tasks/next', { headers: { 'X-CSRF-Token': api.me.csrf_token } });
      if (r.status() === 204) break;
      const task = await r.json();
      await api.send('post', `/tasks/${task.id}/submit`, { answers: { specialty: [answers[order.get(task.item_id)!]] } });
    }
    await api.dispose();
  }
  for (;;) {
    const r = await pm.ctx.post('/api/v1/reviews/next?tier=3', { headers: { 'X-CSRF-Token': pm.me.csrf_token } });
    if (r.status() === 204) break;
    const t = await r.json();
    await pm.send('post', `/tasks/${t.id}/review`, { decision: 'accept', comments: [] });
  }
  const qa = await Api.login(server, PEOPLE.qa.email, PASSWORD);
  const [batch] = await qa.get(`/projects/${p.id}/batches`);
  const approved = await qa.send('post', `/batches/${batch.id}/decision`, { decision: 'approve' });
  expect(approved.state).toBe('approved');
  await qa.dispose();
  await pm.dispose();
  await client.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

async function as(browser: Browser, email: string, to: string): Promise<Page> {
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await page.goto(`${server.url}${to}`);
  await signIn(page, email, PASSWORD);
  await expect(page.getByTestId('who')).toBeVisible();
  return page;
}

function verify(file: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(BIN, ['delivery', 'verify', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { ok: false, out: `${err.stdout}${err.stderr}` };
  }
}

test('the PM builds, the QA reviewer certifies, the client downloads and the download verifies', async ({ browser }) => {
  test.setTimeout(120_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'clinlabel-delivery-'));

  // The PM builds the delivery from the approved batch.
  const pm = await as(browser, PEOPLE.pm.email, `/projects/${projectId}`);
  await pm.getByTestId('deliveries-link').click();
  await expectTitle(pm, 'Delivery');
  await pm.getByTestId('build-delivery').click();
  await expect(pm.getByTestId('delivery-row-1').getByTestId('delivery-state')).toHaveText('Built — awaiting QA certification');

  // The client sees nothing before the certification.
  const client = await as(browser, PEOPLE.client.email, `/projects/${projectId}/deliveries`);
  await expect(client.getByText('No certified delivery yet.')).toBeVisible();

  // The QA reviewer in charge signs: the statement is bound to the manifest hash.
  const qa = await as(browser, PEOPLE.qa.email, `/projects/${projectId}/deliveries`);
  const form = qa.getByTestId('sign-form');
  await form.getByLabel('Certification statement').fill('I certify that this delivery passed every QA tier and meets the agreed quality threshold.');
  await form.getByLabel('Your password (to sign)').fill('not the password at all');
  await form.getByRole('button', { name: 'Sign certification' }).click();
  await expect(form.getByRole('alert')).toContainText('Re-enter your password');
  await form.getByLabel('Your password (to sign)').fill(PASSWORD);
  await form.getByRole('button', { name: 'Sign certification' }).click();
  await expect(qa.getByTestId('delivery-row-1').getByTestId('delivery-state')).toHaveText('Certified');
  await expect(qa.getByTestId('certification-statement')).toContainText(PEOPLE.qa.name);

  // The client's data room: the report (agreement with its interval), the PDF, a link to the zip.
  await client.reload();
  await expect(client.getByTestId('delivery-row-1').getByTestId('delivery-state')).toHaveText('Certified');
  await expect(client.getByTestId('report-agreement').getByRole('row').filter({ hasText: 'Which specialty wrote the letter?' }).first()).toContainText('75.0 %');
  const pdfDownload = client.waitForEvent('download');
  await client.getByTestId('report-pdf').click();
  const pdfPath = path.join(dir, 'report.pdf');
  await (await pdfDownload).saveAs(pdfPath);
  expect(readFileSync(pdfPath).subarray(0, 5).toString()).toBe('%PDF-');
  const html = await client.request.get(`${server.url}/api/v1/deliveries/${await deliveryId(client)}/report.html`);
  expect(await html.text()).toContain('<svg');

  await client.getByTestId('create-zip-link').click();
  const row = client.getByTestId('link-row').first();
  await expect(row.getByTestId('link-status')).toHaveText('active');
  const zipHref = (await row.getByTestId('download-link').getAttribute('href'))!;
  const zipDownload = client.waitForEvent('download');
  await row.getByTestId('download-link').click();
  const zipPath = path.join(dir, 'delivery.zip');
  const zip = await zipDownload;
  expect(zip.suggestedFilename()).toMatch(/^clinlabel-delivery-clinic-letters-delivery-v1\.zip$/);
  await zip.saveAs(zipPath);

  // clinlabel delivery verify: passes on the download, fails naming the file on a one-byte change.
  const good = verify(zipPath);
  expect(good.ok, good.out).toBeTruthy();
  expect(good.out).toContain('4 files match the manifest');
  const bytes = readFileSync(zipPath);
  // The entry's local header names it under the delivery's folder (the manifest lists it without).
  const name = Buffer.from('clinlabel-delivery-clinic-letters-delivery-v1/exports/annotations.jsonl');
  const at = bytes.indexOf(name) + name.length + 30;
  bytes[at] = bytes[at]! ^ 0x01;
  const changed = path.join(dir, 'changed.zip');
  writeFileSync(changed, bytes);
  const bad = verify(changed);
  expect(bad.ok).toBeFalsy();
  expect(bad.out).toContain('exports/annotations.jsonl: ');

  // The download is in the data room's log.
  await client.reload();
  await expect(client.getByTestId('download-log')).toContainText('clinlabel-delivery-clinic-letters-delivery-v1.zip');

  // A revoked link answers 410.
  const csrf = (await (await client.request.get(`${server.url}/api/v1/auth/me`)).json()).csrf_token as string;
  const fresh = await client.request.post(`${server.url}/api/v1/deliveries/${await deliveryId(client)}/links`, { data: {}, headers: { 'X-CSRF-Token': csrf } });
  const { url } = await fresh.json();
  expect((await client.request.get(`${server.url}${url}`, { headers: { Range: 'bytes=0-3' } })).status()).toBe(206);
  await client.reload();
  await client.getByTestId('links').getByRole('row').nth(1).getByTestId('revoke-link').click();
  await expect(client.getByTestId('links').getByRole('row').nth(1).getByTestId('link-status')).toHaveText('revoked');
  const gone = await client.request.get(`${server.url}${url}`);
  expect(gone.status()).toBe(410);
  expect((await gone.json()).code).toBe('link_gone');

  // A member without the download right reads the report but downloads nothing.
  const member = await as(browser, PEOPLE.member.email, `/projects/${projectId}/deliveries`);
  await expect(member.getByTestId('report-agreement')).toBeVisible();
  await expect(member.getByTestId('no-download-right')).toBeVisible();
  expect((await member.request.get(`${server.url}${zipHref}`)).status()).toBe(403);
  // The client admin grants the member the download right: the data room opens for them.
  await client.getByTestId('download-rights').getByLabel('may download').check();
  await expect(client.getByTestId('download-rights').getByLabel('may download')).toBeChecked();
  await member.reload();
  await expect(member.getByTestId('data-room')).toBeVisible();
  expect((await member.request.get(`${server.url}${zipHref}`, { headers: { Range: 'bytes=0-1' } })).status()).toBe(206);
});

async function deliveryId(page: Page): Promise<string> {
  const r = await page.request.get(`${server.url}/api/v1/projects/${projectId}/deliveries`);
  const ds = await r.json();
  return ds[0].id as string;
}
