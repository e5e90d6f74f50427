// The text workspace on a 200,000-character note (CRLF lines, an emoji now
// and then so offsets go through the UTF-16 ↔ char table, hundreds of
// ICD-10-CM suggestions): time to show the note with its suggestions, and
// per keystroke the time from the key to the next frame for marking a span
// (selection + label key), moving between spans (]) and changing an
// assertion (v). Figures only; nothing is asserted on time.
import { expect, test, type Page } from '@playwright/test';
import { Api, PASSWORD, signIn, startServer } from '../e2e/server';

const SENTENCES = [
  'Patient denies cough or fever.',
  'Mother had asthma and hypertension.',
  'Takes metformin for diabetes, dose unchanged.',
  'No nausea, no vomiting, no dysuria.',
  'Complains of headache since Tuesday \u{1F915}.',
  'Chest examination reveals crackles at the left base.',
  'Possible pneumonia; follow-up radiograph ordered.',
  'History of gout, quiescent.',
];

function note(chars: number): string {
  let out = '';
  for (let i = 0; [...out].length < chars; i++) {
    out += SENTENCES[(i * 5 + (i >> 3)) % SENTENCES.length]!;
    out += i % 3 === 2 ? '\r\n' : ' ';
    if (out.length > chars * 1.2) break;
  }
  return [...out].slice(0, chars).join('');
}

function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))]!.toFixed(1);
  return `p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (${s.length} keystrokes)`;
}

/** Dispatches a key on the window and resolves with the milliseconds until the next frame is painted. */
async function keyToFrame(page: Page, key: string, select?: number): Promise<number> {
  return page.evaluate(
    ([key, select]) =>
      new Promise<number>((resolve) => {
        if (select !== null) {
          const root = document.querySelector('[data-testid="note"] .note-body')!;
          const segs = root.querySelectorAll('.seg:not(.on)');
          const seg = segs[(select as number) % segs.length]!.firstChild as Text;
          const at = seg.data.search(/[a-z]{4,}/);
          if (at < 0) return resolve(-1);
          const end = at + seg.data.slice(at).search(/[^a-z]/);
          window.getSelection()!.setBaseAndExtent(seg, at, seg, end > at ? end : seg.data.length);
          root.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
        }
        const t0 = performance.now();
        window.dispatchEvent(new KeyboardEvent('keydown', { key: key as string, bubbles: true }));
        requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
      }),
    [key, select ?? null] as const,
  );
}

test('text workspace on a 200,000-character note', async ({ browser }) => {
  const server = await startServer();
  try {
    const admin = await Api.setup(server);
    const org = await admin.createOrg('Bench Hospital', 'client');
    const prov = admin.me.organisation.id;
    await admin.createUser({ org_id: org.id, email: 'c@bench.test', name: 'Client', role: 'client_admin' });
    await admin.createUser({ org_id: prov, email: 'pm@bench.test', name: 'PM', role: 'pm' });
    const track = await admin.send('post', '/tracks', { slug: 'bench-nlp', name: 'Bench NLP' });
    const t = await admin.createUser({ org_id: prov, email: 't@bench.test', name: 'Tasker', role: 'tasker' });
    await admin.send('post', '/certifications', { user_id: t.id, track_id: track.id, expires_at: Date.now() + 86_400_000 });
    const agreements = [await admin.send('post', '/agreements', { kind: 'nda', title: 'NDA', body: '.' }), await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: '.' })];
    const client = await Api.login(server, 'c@bench.test', PASSWORD);
    for (const a of agreements) await client.send('post', `/agreements/${a.id}/sign`, { full_name: 'Client' });
    const p = await client.send('post', '/projects', {
      name: 'Bench', modality: 'text', task_types: ['entities', 'assertion', 'coding'],
      schema: {
        entity_types: [{ id: 'disease', name: 'Disease', code_system: 'icd10cm' }, { id: 'medication', name: 'Medication' }],
        assertion_values: ['present', 'absent', 'possible', 'historical', 'family_history', 'hypothetical'],
      },
      output_formats: ['native_jsonl'], deadline: Date.now() + 86_400_000 * 30, track_id: track.id, overlap: 1, gold_rate: 0,
      qa: { tier1: false, tier2_sampling_pct: 0, tier3_spot_check_pct: 5, quality_threshold: 0.5 },
    });
    const text = note(200_000);
    await client.upload(p.id, 'long.txt', Buffer.from(text, 'utf8'));
    await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
    const pm = await Api.login(server, 'pm@bench.test', PASSWORD);
    const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
    await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
    await pm.send('post', `/projects/${p.id}/steps`, { step: 'start' });
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    await page.goto(`${server.url}/`);
    await signIn(page, 't@bench.test', PASSWORD);
    await expect(page.getByTestId('who')).toBeVisible();
    // First visit builds the ICD-10-CM dictionary on the server; the second shows the workspace's own cost.
    for (const round of ['first (server builds the dictionary)', 'again']) {
      const t0 = Date.now();
      await page.goto(`${server.url}/work`);
      await expect(page.getByTestId('note')).toHaveAttribute('data-chars', String([...text].length), { timeout: 120_000 });
      await expect(page.getByTestId('pending-count')).toBeVisible();
      const shown = Date.now() - t0;
      const blocks = await page.locator('[data-testid="note"] .nb').count();
      const pending = await page.getByTestId('pending-count').textContent();
      console.log(`text: 200,000-char note (${blocks} blocks) shown with suggestions, ${round}: ${shown} ms; ${pending?.split(':')[0]}`);
    }
    const mark: number[] = [], next: number[] = [], assertion: number[] = [];
    for (let i = 0; i < 40; i++) {
      const ms = await keyToFrame(page, '2', i * 37);
      if (ms >= 0) mark.push(ms);
    }
    for (let i = 0; i < 40; i++) next.push(await keyToFrame(page, ']'));
    for (let i = 0; i < 40; i++) assertion.push(await keyToFrame(page, 'v'));
    console.log(`text: mark a span (selection + label key → next frame): ${quantiles(mark)}`);
    console.log(`text: next span (] → next frame): ${quantiles(next)}`);
    console.log(`text: change the assertion (v → next frame): ${quantiles(assertion)}`);
    await pm.dispose();
    await client.dispose();
    await admin.dispose();
  } finally {
    await server.stop();
  }
});
