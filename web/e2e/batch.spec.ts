// A batch under the quality threshold: the two taskers disagree on every
// item, so the QA reviewer cannot approve (the button is disabled and says
// why) and returns an annotation with feedback anchored to a question, which
// its author then sees next to that question. Also: the workspace's
// shortcuts in the `?` overlay, and the skip dialog.
import { expect, test, type Browser, type Page } from '@playwright/test';
import { Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
const PEOPLE = {
  client: { email: 'clara@client.test', name: 'Clara Client' },
  pm: { email: 'pia@provider.test', name: 'Pia Manager' },
  qa: { email: 'quinn@provider.test', name: 'Quinn Reviewer' },
  a: { email: 'ana@provider.test', name: 'Ana Tasker' },
  b: { email: 'ben@provider.test', name: 'Ben Tasker' },
};
let projectId = '';

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Northwind Hospital', 'client');
  const prov = admin.me.organisation.id;
  await admin.createUser({ org_id: org.id, email: PEOPLE.client.email, name: PEOPLE.client.name, role: 'client_admin' });
  await admin.createUser({ org_id: prov, email: PEOPLE.pm.email, name: PEOPLE.pm.name, role: 'pm' });
  await admin.createUser({ org_id: prov, email: PEOPLE.qa.email, name: PEOPLE.qa.name, role: 'qa_reviewer' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-letters', name: 'E2E Clinical letters' });
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
    name: 'Clinic letters — disagreement',
    modality: 'text',
    task_types: ['classification'],
    schema: {
      questions: [
        { id: 'specialty', text: 'Which specialty wrote the letter?', kind: 'single', options: [{ id: 'cardiology', name: 'Cardiology', hotkey: '1' }, { id: 'oncology', name: 'Oncology', hotkey: '2' }] },
        { id: 'urgent', text: 'Does it ask for urgent follow-up?', kind: 'single', options: [{ id: 'yes', name: 'Yes', hotkey: '1' }, { id: 'no', name: 'No', hotkey: '2' }] },
      ],
    },
    guidelines: 'Choose the specialty, then the urgency.',
    output_formats: ['native_jsonl'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 2,
    gold_rate: 0,
    qa: { tier1: false, tier2_sampling_pct: 0, tier3_spot_check_pct: 10, quality_threshold: 0.8, max_rework_rounds: 2 },
  });
  projectId = p.id;
  for (let i = 1; i <= 2; i++) await client.upload(p.id, `letter-${i}.txt`, Buffer.from(`Letter ${i}: seen in clinic, follow-up arranged.\n`));
  await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
  const pm = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
  await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
  await pm.send('post', `/projects/${p.id}/steps`, { step: 'start' });
  await pm.dispose();
  await client.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

async function as(browser: Browser, email: string, to = '/'): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}${to}`);
  await signIn(page, email, PASSWORD);
  await expect(page.getByTestId('who')).toBeVisible();
  return page;
}

async function annotateAll(page: Page, keys: [string, string]) {
  for (;;) {
    const ws = page.getByTestId('workspace');
    const none = page.getByTestId('no-tasks');
    await expect(ws.or(none)).toBeVisible();
    if (await none.isVisible()) return;
    const id = await ws.getAttribute('data-task-id');
    await expect(ws.getByTestId('question-specialty')).toBeFocused();
    await page.keyboard.press(keys[0]);
    await page.keyboard.press('ArrowDown');
    await expect(ws.getByTestId('question-urgent')).toBeFocused();
    await page.keyboard.press(keys[1]);
    await page.keyboard.press('Enter');
    await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
  }
}

test('under the threshold: approval disabled and explained; the batch is returned with anchored feedback', async ({ browser }) => {
  test.setTimeout(120_000);
  const a = await as(browser, PEOPLE.a.email, '/work');
  await expectTitle(a, 'Annotate');
  const ws = a.getByTestId('workspace');
  await expect(ws.getByTestId('question-specialty')).toBeFocused();
  // The `?` overlay lists the workspace's keys.
  await a.keyboard.press('?');
  const overlay = a.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(overlay).toContainText('Submit the answers');
  await expect(overlay).toContainText('Cardiology — Which specialty wrote the letter?');
  await expect(overlay).toContainText('Skip this task (with a reason)');
  await expect(overlay).toContainText('Next question');
  await a.keyboard.press('Escape');
  await expect(overlay).toHaveCount(0);
  // `s` opens the skip dialog; Escape keeps working. Enter with no answers names the question to answer.
  await a.keyboard.press('s');
  await expect(a.getByRole('dialog', { name: 'Skip this task' }).getByLabel('Why are you skipping it?')).toBeFocused();
  await a.keyboard.press('Escape');
  await expect(a.getByRole('dialog', { name: 'Skip this task' })).toHaveCount(0);
  await ws.getByTestId('question-specialty').focus();
  await a.keyboard.press('Enter');
  await expect(ws.getByRole('alert')).toContainText('Which specialty wrote the letter?');
  await annotateAll(a, ['1', '2']); // Cardiology, not urgent
  const b = await as(browser, PEOPLE.b.email, '/work');
  await annotateAll(b, ['2', '1']); // Oncology, urgent

  // The PM's spot-check (through the API here; the UI path is in annotation.spec.ts) names the annotations.
  const pmApi = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const annotations: string[] = [];
  for (;;) {
    const r = await pmApi.ctx.post('/api/v1/reviews/next?tier=3', { headers: { 'X-CSRF-Token': pmApi.me.csrf_token } });
    if (r.status() === 204) break;
    const t = await r.json();
    annotations.push(t.annotation.id);
    await pmApi.send('post', `/tasks/${t.id}/review`, { decision: 'accept', comments: [] });
  }
  await pmApi.dispose();
  expect(annotations.length).toBe(2);

  const qa = await as(browser, PEOPLE.qa.email);
  await qa.getByTestId('section-batches').getByRole('link', { name: 'Batch 0' }).click();
  await expect(qa.getByTestId('batch-state')).toHaveText('Awaiting approval');
  await expect(qa.getByTestId('meets-threshold')).toHaveText('Not met');
  await expect(qa.getByRole('table', { name: 'Agreement per question' }).getByRole('row').filter({ hasText: 'Which specialty' })).toContainText('below');
  const approve = qa.getByRole('button', { name: 'Approve batch' });
  await expect(approve).toBeDisabled();
  await expect(qa.getByTestId('approve-explain')).toContainText('under the quality threshold of 0.8');
  await expect(approve).toHaveAccessibleDescription(/under the quality threshold/);

  await qa.getByRole('button', { name: 'Return with feedback…' }).click();
  const ret = qa.getByRole('group', { name: 'Return with feedback' });
  await ret.getByRole('button', { name: 'Add an annotation' }).click();
  await ret.getByLabel('Annotation 1 id').fill(annotations[0]!);
  await ret.getByLabel('Annotation 1 about').selectOption({ label: 'Which specialty wrote the letter?' });
  await ret.getByLabel('Annotation 1 feedback').fill('The signature block is from cardiology.');
  await ret.getByRole('button', { name: 'Return batch' }).click();
  await expect(qa.getByTestId('batch-state')).toHaveText('Annotating');

  // The author sees the feedback next to the question it is about.
  let found = false;
  for (const page of [a, b]) {
    await page.goto(`${server.url}/`);
    const returned = page.getByTestId('section-returned');
    await expect(returned.getByRole('table', { name: 'Returned work' }).or(returned.getByText('No work has been returned to you.'))).toBeVisible();
    if (!(await returned.getByRole('link', { name: 'Rework' }).count())) continue;
    found = true;
    await returned.getByRole('link', { name: 'Rework' }).click();
    const rw = page.getByTestId('workspace');
    await expect(rw).toHaveAttribute('data-task-kind', 'rework');
    await expect(rw.getByTestId('question-specialty').getByTestId('feedback')).toContainText('The signature block is from cardiology.');
  }
  expect(found).toBeTruthy();
});
