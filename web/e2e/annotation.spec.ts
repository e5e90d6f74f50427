// Issue 5, from an approved quote to an approved batch, through the UI: the
// PM marks a gold item and starts the project; two taskers annotate every item
// (overlap 2) by keyboard in the classification workspace; a third certified
// tasker (created and certified in the admin console) rejects one annotation
// in tier 1 with a comment anchored to a question; the author sees it next to
// that question and reworks; tier 2 (QA) and the PM's spot-check accept; the
// QA reviewer approves the batch. A gold task scores a tasker's accuracy.
import { expect, test, type Browser, type Page } from '@playwright/test';
import { ADMIN, Api, PASSWORD, expectTitle, signIn, startServer, type Server } from './server';

let server: Server;
let projectId = '';
const NAME = 'Clinic letters — specialty and urgency';
const PEOPLE = {
  client: { email: 'clara@client.test', name: 'Clara Client' },
  pm: { email: 'pia@provider.test', name: 'Pia Manager' },
  qa: { email: 'quinn@provider.test', name: 'Quinn Reviewer' },
  a: { email: 'ana@provider.test', name: 'Ana Tasker' },
  b: { email: 'ben@provider.test', name: 'Ben Tasker' },
};
const THIRD = { email: 'tom@provider.test', name: 'Tom Third' };
const TRACK = 'E2E Clinical letters';
const NOTES = 6; // one becomes gold: five real items, ten annotations

test.beforeAll(async () => {
  server = await startServer();
  const admin = await Api.setup(server);
  const org = await admin.createOrg('Northwind Hospital', 'client');
  const prov = admin.me.organisation.id;
  await admin.createUser({ org_id: org.id, email: PEOPLE.client.email, name: PEOPLE.client.name, role: 'client_admin' });
  await admin.createUser({ org_id: prov, email: PEOPLE.pm.email, name: PEOPLE.pm.name, role: 'pm' });
  await admin.createUser({ org_id: prov, email: PEOPLE.qa.email, name: PEOPLE.qa.name, role: 'qa_reviewer' });
  const track = await admin.send('post', '/tracks', { slug: 'e2e-letters', name: TRACK });
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
    name: NAME,
    modality: 'text',
    task_types: ['classification'],
    schema: {
      questions: [
        { id: 'specialty', text: 'Which specialty wrote the letter?', kind: 'single', options: [{ id: 'cardiology', name: 'Cardiology', hotkey: '1' }, { id: 'oncology', name: 'Oncology', hotkey: '2' }, { id: 'other', name: 'Other', hotkey: '3' }] },
        { id: 'urgent', text: 'Does it ask for urgent follow-up?', kind: 'single', options: [{ id: 'yes', name: 'Yes', hotkey: '1' }, { id: 'no', name: 'No', hotkey: '2' }] },
      ],
    },
    guidelines: '# Guidelines\n\nChoose the specialty of the author, then whether follow-up is urgent.',
    output_formats: ['native_jsonl'],
    deadline: Date.now() + 30 * 86_400_000,
    track_id: track.id,
    overlap: 2,
    gold_rate: 0.5,
    qa: { tier1: true, tier2_sampling_pct: 100, tier3_spot_check_pct: 10, quality_threshold: 0.5, max_rework_rounds: 2 },
  });
  projectId = p.id;
  for (let i = 1; i <= NOTES; i++) {
    await client.upload(p.id, `letter-${i}.txt`, Buffer.from(`Dear colleague, letter ${i}: reviewed in the cardiology clinic; routine follow-up in six months.\n`));
  }
  await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
  const pm = await Api.login(server, PEOPLE.pm.email, PASSWORD);
  const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
  await pm.dispose();
  await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
  await client.dispose();
});
test.afterAll(async () => {
  await server?.stop();
});

async function as(browser: Browser, email: string, password: string, to = '/'): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}${to}`);
  await signIn(page, email, password);
  await expect(page.getByTestId('who')).toBeVisible();
  return page;
}

/** Annotates until the queue is empty, by keyboard only: 1 (Cardiology), Tab, 2 (No), Enter. */
async function annotateAll(page: Page): Promise<number> {
  let n = 0;
  for (;;) {
    const ws = page.getByTestId('workspace');
    const none = page.getByTestId('no-tasks');
    await expect(ws.or(none)).toBeVisible();
    if (await none.isVisible()) return n;
    const id = await ws.getAttribute('data-task-id');
    await expect(ws.getByTestId('question-specialty')).toBeFocused();
    await page.keyboard.press('1');
    await expect(ws.getByTestId('question-specialty').getByRole('radio', { name: 'Cardiology' })).toHaveAttribute('aria-checked', 'true');
    await page.keyboard.press('Tab');
    await expect(ws.getByTestId('question-urgent')).toBeFocused();
    await page.keyboard.press('2');
    await expect(ws.getByTestId('question-urgent').getByRole('radio', { name: 'No' })).toHaveAttribute('aria-checked', 'true');
    await page.keyboard.press('Enter');
    await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
    n++;
  }
}

/** Reviews until the queue is empty, deciding each with `act`. */
async function reviewAll(page: Page, act: (ws: ReturnType<Page['getByTestId']>, i: number) => Promise<void>): Promise<number> {
  let n = 0;
  for (;;) {
    const ws = page.getByTestId('review-workspace');
    const none = page.getByTestId('no-reviews');
    await expect(ws.or(none)).toBeVisible();
    if (await none.isVisible()) return n;
    const id = await ws.getAttribute('data-task-id');
    await act(ws, n);
    await expect(page.locator(`[data-task-id="${id}"]`)).toHaveCount(0);
    n++;
  }
}
const accept = async (ws: ReturnType<Page['getByTestId']>) => {
  await expect(ws.getByTestId('question-specialty')).toBeFocused();
  await ws.page().keyboard.press('a');
};

test('annotation to approved batch: gold, keyboard workspace, tier 1 rejection and rework, tier 2, spot-check, approval', async ({ browser }) => {
  test.setTimeout(240_000);
  // The admin creates and certifies a third tasker in the console.
  const admin = await as(browser, ADMIN.email, ADMIN.password, '/admin/users');
  const form = admin.getByRole('form', { name: 'Create a user' });
  await form.getByLabel('Name').fill(THIRD.name);
  await form.getByLabel('E-mail address').fill(THIRD.email);
  await form.getByLabel('Role').selectOption('tasker');
  await form.getByLabel('Initial password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create user' }).click();
  await admin.getByTestId('users-table').getByRole('link', { name: THIRD.name }).click();
  const grant = admin.getByRole('form', { name: 'Grant a certification' });
  await grant.getByLabel('Track').selectOption({ label: TRACK });
  await grant.getByRole('button', { name: 'Grant' }).click();
  await expect(admin.getByTestId('certifications-table').getByRole('row').filter({ hasText: TRACK })).toContainText('Active');
  await admin.context().close();

  // The PM marks one item as gold (Cardiology, not urgent), then starts the project.
  const pm = await as(browser, PEOPLE.pm.email, PASSWORD, `/projects/${projectId}`);
  const items = pm.getByTestId('items-table');
  await items.getByRole('button', { name: 'Mark as gold' }).first().click();
  const gold = items.getByRole('group', { name: 'Gold answer' });
  await gold.getByRole('radio', { name: 'Cardiology' }).check();
  await gold.getByRole('radio', { name: 'No' }).check();
  await gold.getByRole('button', { name: 'Save gold answer' }).click();
  await expect(items.getByText('Gold ✔')).toBeVisible();
  await pm.getByRole('button', { name: 'Start project' }).click();
  await expect(pm.getByTestId('project-state')).toHaveText('In progress');

  // Two taskers annotate every item by keyboard (five real items each, and a gold task at the project's rate).
  const taskers: Page[] = [];
  for (const t of [PEOPLE.a, PEOPLE.b]) {
    const page = await as(browser, t.email, PASSWORD);
    await page.getByRole('button', { name: 'Start annotating' }).click();
    await expectTitle(page, 'Annotate');
    await expect(page.getByTestId('item-text').or(page.getByTestId('item-unavailable'))).toBeVisible();
    console.log(`tasker item panel: ${(await page.getByTestId('item-text').count()) ? 'text' : 'metadata only'}`);
    expect(await annotateAll(page)).toBeGreaterThanOrEqual(NOTES - 1);
    taskers.push(page);
  }

  // Tier 1: the third tasker rejects the first annotation with a comment anchored to the specialty question.
  const third = await as(browser, THIRD.email, PASSWORD);
  await third.getByRole('button', { name: 'Peer review (tier 1)' }).click();
  const COMMENT = 'The letterhead says oncology: check the specialty again.';
  const firstRound = await reviewAll(third, async (ws, i) => {
    if (i > 0) return accept(ws);
    await expect(ws.getByTestId('question-specialty').getByRole('radio', { name: 'Cardiology' })).toHaveAttribute('aria-checked', 'true');
    await third.keyboard.press('r'); // no comment yet: refused, and the comment box of the focused question takes focus
    await expect(ws.getByRole('alert')).toContainText('needs a comment');
    await third.keyboard.type(COMMENT);
    await third.keyboard.press('Escape');
    await third.keyboard.press('r');
  });
  expect(firstRound).toBe(2 * (NOTES - 1));

  // The author finds the returned work with the comment next to the question it anchors, and reworks it.
  let author: Page | null = null;
  for (const page of taskers) {
    await page.goto(`${server.url}/`);
    const returned = page.getByTestId('section-returned');
    await expect(returned.getByRole('table', { name: 'Returned work' }).or(returned.getByText('No work has been returned to you.'))).toBeVisible();
    if (await returned.getByRole('link', { name: 'Rework' }).count()) author = page;
  }
  expect(author).not.toBeNull();
  await author!.getByTestId('section-returned').getByRole('link', { name: 'Rework' }).click();
  const ws = author!.getByTestId('workspace');
  await expect(ws).toHaveAttribute('data-task-kind', 'rework');
  await expect(ws.getByTestId('question-specialty').getByTestId('feedback')).toContainText(COMMENT);
  await expect(ws.getByTestId('question-urgent').getByTestId('feedback')).toHaveCount(0);
  await expect(ws.getByTestId('question-specialty')).toBeFocused();
  await author!.keyboard.press('1');
  await author!.keyboard.press('Enter');
  await expect(author!.getByTestId('section-returned')).toContainText('No work has been returned to you.');

  // Tier 1 again on the reworked annotation: the earlier comment shows next to its question.
  await third.getByRole('button', { name: 'Check again' }).click();
  expect(
    await reviewAll(third, async (rws) => {
      await expect(rws.getByTestId('question-specialty').getByTestId('feedback')).toContainText(COMMENT);
      await accept(rws);
    }),
  ).toBe(1);

  // Tier 2: the QA reviewer accepts every sampled annotation (100 % sampled here).
  const qa = await as(browser, PEOPLE.qa.email, PASSWORD);
  await qa.getByRole('link', { name: 'Open the tier 2 queue' }).click();
  await expect(qa.getByTestId('item-text')).toContainText('Dear colleague'); // staff read the item's text
  expect(await reviewAll(qa, accept)).toBe(2 * (NOTES - 1));

  // Tier 3: the PM's spot-check of the seeded sample.
  await pm.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Spot-check' }).click();
  expect(await reviewAll(pm, accept)).toBeGreaterThanOrEqual(2);

  // The QA reviewer finds the batch awaiting approval, checks agreement and gold, approves.
  await qa.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Home' }).click();
  await qa.getByTestId('section-batches').getByRole('link', { name: 'Batch 0' }).click();
  await expectTitle(qa, 'Batch');
  await expect(qa.getByTestId('batch-state')).toHaveText('Awaiting approval');
  await expect(qa.getByRole('table', { name: 'Agreement per question' }).getByRole('row')).toHaveCount(3);
  await expect(qa.getByTestId('batch-agreement')).toContainText('100.0 %');
  await expect(qa.getByTestId('batch-rework')).toContainText('10 %');
  await expect(qa.getByTestId('meets-threshold')).toHaveText('Met');
  await expect(qa.getByTestId('batch-spot-check')).toContainText('drawn for the PM’s spot-check');
  await qa.getByRole('button', { name: 'Approve batch' }).click();
  await expect(qa.getByTestId('batch-state')).toHaveText('Approved');
  await expect(qa.getByRole('button', { name: 'Approve batch' })).toBeDisabled();

  // The gold task scored a tasker: the PM sees it in the accuracy table.
  await pm.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tracks and accuracy' }).click();
  const acc = pm.getByRole('table', { name: 'Accuracy per tasker' });
  await expect(acc.getByRole('row').filter({ hasText: TRACK }).first()).toContainText('100.0 %');
  await expect(pm.getByRole('table', { name: 'Tracks and certification health' }).getByRole('row').filter({ hasText: TRACK })).toContainText('3');
});
