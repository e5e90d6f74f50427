// The viewer's redraw of a real 512×512 CT frame (pydicom's 693_UNCR.dcm)
// through a new window/level: lookup table, pixel pass and putImageData, as
// the viewer itself times it (`data-draw-ms`), over 200 window changes.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { Api, PASSWORD, signIn, startServer } from '../e2e/server';

test('viewer redraw of a 512×512 CT frame at a new window', async ({ browser }) => {
  const root = process.env.CLINLABEL_TESTDATA ?? path.join(homedir(), '.cache', 'clinlabel-testdata');
  const entries: { name: string; path: string }[] = JSON.parse(readFileSync(path.join(root, 'dicom', 'reference.json'), 'utf8')).entries;
  const ct = readFileSync(entries.find((e) => e.name === 'pydicom-data/693_UNCR.dcm')!.path);
  const server = await startServer();
  try {
    const admin = await Api.setup(server);
    const org = await admin.createOrg('Bench Hospital', 'client');
    const prov = admin.me.organisation.id;
    await admin.createUser({ org_id: org.id, email: 'c@bench.test', name: 'Client', role: 'client_admin' });
    await admin.createUser({ org_id: prov, email: 'pm@bench.test', name: 'PM', role: 'pm' });
    const track = await admin.send('post', '/tracks', { slug: 'bench-ct', name: 'Bench CT' });
    const t = await admin.createUser({ org_id: prov, email: 't@bench.test', name: 'Tasker', role: 'tasker' });
    await admin.send('post', '/certifications', { user_id: t.id, track_id: track.id, expires_at: Date.now() + 86_400_000 });
    const agreements = [await admin.send('post', '/agreements', { kind: 'nda', title: 'NDA', body: '.' }), await admin.send('post', '/agreements', { kind: 'dpa', title: 'DPA', body: '.' })];
    const client = await Api.login(server, 'c@bench.test', PASSWORD);
    for (const a of agreements) await client.send('post', `/agreements/${a.id}/sign`, { full_name: 'Client' });
    const p = await client.send('post', '/projects', {
      name: 'Bench', modality: 'image', task_types: ['bounding_box'], schema: { image_tools: [{ tool: 'bounding_box_2d', labels: [{ id: 'x', name: 'X' }] }] },
      output_formats: ['native_json'], deadline: Date.now() + 86_400_000 * 30, track_id: track.id, overlap: 1, gold_rate: 0,
      qa: { tier1: false, tier2_sampling_pct: 0, tier3_spot_check_pct: 5, quality_threshold: 0.5 },
    });
    await client.upload(p.id, 'ct.dcm', ct);
    await client.send('post', `/projects/${p.id}/steps`, { step: 'submit' });
    const pm = await Api.login(server, 'pm@bench.test', PASSWORD);
    const q = await pm.send('post', `/projects/${p.id}/quotes`, { adjustments: [] });
    await client.send('post', `/projects/${p.id}/quotes/${q.id}/decision`, { decision: 'approve' });
    await pm.send('post', `/projects/${p.id}/steps`, { step: 'start' });
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    await page.goto(`${server.url}/work`);
    await signIn(page, 't@bench.test', PASSWORD);
    const viewer = page.getByTestId('viewer');
    await expect(viewer).toHaveAttribute('data-columns', '512');
    await expect(viewer).not.toHaveAttribute('data-draw-ms', '');
    const times: number[] = [];
    const presets = ['brain', 'lung', 'bone', 'abdomen'];
    const windows = ['40/80', '-600/1500', '400/1800', '40/400'];
    for (let i = 0; i < 200; i++) {
      await viewer.locator(`[data-preset="${presets[i % 4]}"]`).click();
      await expect(viewer).toHaveAttribute('data-window', windows[i % 4]!);
      times.push(Number(await viewer.getAttribute('data-draw-ms')));
    }
    times.sort((a, b) => a - b);
    const q50 = times[Math.floor(times.length * 0.5)]!, q99 = times[Math.floor(times.length * 0.99)]!;
    console.log(`viewer: 512×512 CT frame redraw at a new window (LUT + pixel pass + putImageData), ${times.length} redraws in Chromium: p50 ${q50.toFixed(2)} ms, p99 ${q99.toFixed(2)} ms, max ${times[times.length - 1]!.toFixed(2)} ms`);
    await pm.dispose();
    await client.dispose();
    await admin.dispose();
  } finally {
    await server.stop();
  }
});
