// Uploads beyond single files: a zip archive (unpacked by the server, its
// entries listed as files) and a whole folder (webkitdirectory), each file
// with its own progress; and uploads refused until the NDA and DPA are signed.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { expect, test } from '@playwright/test';
import { Api, PASSWORD, signIn, startServer, type Server } from './server';

let server: Server;
const CLIENT = { email: 'clara@client.test', name: 'Clara Client' };
let projectId = '';
let agreements: { id: string }[] = [];

/** A zip of stored (uncompressed) entries. */
function zip(entries: [string, string][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of entries) {
    const data = Buffer.from(text);
    const n = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(n.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

let dir = '';
test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Northwind Hospital', 'client');
  await admin.createUser({ org_id: org.id, email: CLIENT.email, name: CLIENT.name, role: 'client_admin' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-notes', name: 'E2E Notes' });
  agreements = [
    await admin.send('post', '/agreements', { kind: 'nda', title: 'Mutual NDA', body: 'Confidential.' }),
    await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: 'Processing on instructions only.' }),
  ];
  await admin.dispose();
  const client = await Api.login(server, CLIENT.email, PASSWORD);
  const p = await client.send('post', '/projects', {
    name: 'Referral notes',
    modality: 'text',
    task_types: ['classification'],
    schema: { questions: [{ id: 'urgent', text: 'Urgent?', kind: 'single', options: [{ id: 'yes', name: 'Yes' }, { id: 'no', name: 'No' }] }] },
    guidelines: '',
    output_formats: ['native_jsonl'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 1,
    gold_rate: 0,
    qa: { tier1: false, tier2_sampling_pct: 0, tier3_spot_check_pct: 5, quality_threshold: 0.5, max_rework_rounds: 1 },
  });
  projectId = p.id;
  await client.dispose();
  dir = mkdtempSync(path.join(tmpdir(), 'clinlabel-e2e-up-'));
  writeFileSync(path.join(dir, 'referrals.zip'), zip([['batch-a/referral-1.txt', 'Referral one: chest pain.\n'], ['batch-a/referral-2.txt', 'Referral two: palpitations.\n']]));
  mkdirSync(path.join(dir, 'clinic-letters'));
  writeFileSync(path.join(dir, 'clinic-letters', 'letter-a.txt'), 'Letter A: stable angina.\n');
  writeFileSync(path.join(dir, 'clinic-letters', 'letter-b.txt'), 'Letter B: heart failure review.\n');
});
test.afterAll(async () => {
  await server?.stop();
});

test('uploads are refused before signing; then a zip and a folder arrive, each file with its progress', async ({ page }) => {
  await page.goto(`${server.url}/projects/${projectId}`);
  await signIn(page, CLIENT.email, PASSWORD);
  const panel = page.getByTestId('upload-panel');
  // Not signed yet: the server refuses, and the panel says why.
  await panel.getByLabel('Choose files').setInputFiles(path.join(dir, 'clinic-letters', 'letter-a.txt'));
  await expect(panel.getByTestId('upload-job')).toContainText('agreement_required');
  await expect(panel.getByTestId('upload-job')).toHaveAttribute('data-state', 'failed');

  const api = await Api.login(server, CLIENT.email, PASSWORD);
  for (const a of agreements) await api.send('post', `/agreements/${a.id}/sign`, { full_name: CLIENT.name });
  await api.dispose();

  await panel.getByLabel('Choose files').setInputFiles(path.join(dir, 'referrals.zip'));
  const zipJob = panel.getByTestId('upload-job').filter({ hasText: 'referrals.zip' });
  await expect(zipJob).toHaveAttribute('data-state', 'complete');
  await expect(zipJob).toContainText('2 accepted');
  await expect(zipJob.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');

  await panel.getByLabel('Choose a folder').setInputFiles(path.join(dir, 'clinic-letters'));
  for (const f of ['letter-a.txt', 'letter-b.txt']) {
    await expect(panel.getByTestId('upload-job').filter({ hasText: `clinic-letters/${f}` })).toHaveAttribute('data-state', 'complete');
  }
  const files = page.getByTestId('files-table');
  await expect(files.getByRole('row').filter({ hasText: 'referral-1.txt' })).toContainText('Accepted');
  await expect(files.getByRole('row').filter({ hasText: 'referral-2.txt' })).toContainText('Accepted');
  await expect(files.getByRole('row').filter({ hasText: 'letter-b.txt' })).toContainText('Accepted');
  await expect(page.getByTestId('page-project')).toContainText('4 item(s)');

  // An upload begun elsewhere (another browser: nothing in this one's localStorage) is listed by the
  // server as open, and choosing the same file continues it from the server's offset.
  const text = 'Letter C: new murmur, echo requested.\n';
  writeFileSync(path.join(dir, 'letter-c.txt'), text);
  const other = await Api.login(server, CLIENT.email, PASSWORD);
  const u = await other.send('post', `/projects/${projectId}/uploads`, { name: 'letter-c.txt', size: text.length, purpose: 'data' });
  const r = await other.ctx.fetch(`/api/v1/uploads/${u.id}`, { method: 'PATCH', data: Buffer.from(text.slice(0, 10)), headers: { 'X-CSRF-Token': other.me.csrf_token, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' } });
  expect(r.ok()).toBeTruthy();
  await other.dispose();
  await page.reload();
  await expect(page.getByTestId('unfinished-uploads')).toContainText('letter-c.txt (10 B of');
  await page.getByTestId('upload-panel').getByLabel('Choose files').setInputFiles(path.join(dir, 'letter-c.txt'));
  const c = page.getByTestId('upload-job').filter({ hasText: 'letter-c.txt' });
  await expect(c).toHaveAttribute('data-state', 'complete');
  await expect(c).toContainText('resumed');
  await expect(page.getByTestId('unfinished-uploads')).toHaveCount(0);
  await expect(page.getByTestId('files-table').getByRole('row').filter({ hasText: 'letter-c.txt' })).toContainText('Accepted');
});
