// Headless-Chromium test of credo's /me (subject self-service), /map (the debtor map, with
// a simulated walk) and /court (court console).
// Run from tests/browser with node >= 20; see README.md and run.sh for the environment.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`missing env ${k}`); process.exit(2); }
  return v;
};
const URL = env('CREDO_URL').replace(/\/$/, '');
const SUBJECT_KEY = env('CREDO_SUBJECT_KEY');
const SUBJECT_ID = env('CREDO_SUBJECT_ID');
const COURT_KEY = env('CREDO_COURT_KEY');
const COURT_PARTY = env('CREDO_COURT_PARTY');
const SHOTS = env('CREDO_SHOTS');
const MAP_LAT = Number(env('CREDO_MAP_LAT'));
const MAP_LON = Number(env('CREDO_MAP_LON'));
const MAP_CASE = env('CREDO_MAP_CASE');
const TIP_TEXT = 'browser test: a van parked behind the market ' + Date.now();
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEWPORT = { width: 1280, height: 900 };
const T = 15000;

mkdirSync(SHOTS, { recursive: true });
const failures = [];
let step = '';
function check(cond, what) {
  if (cond) console.log(`  ok   ${what}`);
  else { console.log(`  FAIL ${what}`); failures.push(`${step}: ${what}`); }
}
class Fatal extends Error {}
function must(cond, what) {
  check(cond, what);
  if (!cond) throw new Fatal(what);
}

// Width and height from a PNG's IHDR chunk.
function pngSize(path) {
  const b = readFileSync(path);
  const sig = b.subarray(0, 8).toString('hex');
  if (sig !== '89504e470d0a1a0a' || b.subarray(12, 16).toString('ascii') !== 'IHDR') return null;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), bytes: b.length };
}
function checkShot(path, minHeight) {
  const s = pngSize(path);
  must(s !== null, `${path} is a PNG`);
  check(s.bytes > 10 * 1024, `${path} is non-trivial (${s.bytes} bytes > 10 kB)`);
  check(s.width === VIEWPORT.width, `${path} width ${s.width} == viewport ${VIEWPORT.width}`);
  check(s.height >= minHeight && s.height < 30000, `${path} height ${s.height} in [${minHeight}, 30000)`);
}

async function pageError(page) {
  const e = page.locator('#error');
  return (await e.isVisible()) ? (await e.textContent()).trim() : '';
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN' });
context.setDefaultTimeout(T);
const consoleErrors = [];

async function run(name, fn) {
  step = name;
  console.log(`== ${name}`);
  const page = await context.newPage();
  page.on('pageerror', (e) => consoleErrors.push(`${name}: page error: ${e.message}`));
  // Chromium logs every 4xx fetch as "Failed to load resource"; the pages show those themselves.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) consoleErrors.push(`${name}: console: ${m.text()}`); });
  // The pages must be self-contained: nothing but the service itself.
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(URL + '/') || u === URL) return route.continue();
    failures.push(`${name}: request outside the service: ${u}`);
    return route.abort();
  });
  try {
    await fn(page);
  } catch (e) {
    if (!(e instanceof Fatal)) {
      failures.push(`${name}: ${e.message.split('\n')[0]}`);
      console.log(`  FAIL ${e.message}`);
    }
    const err = await pageError(page).catch(() => '');
    if (err) { console.log(`  page shows error: ${err}`); failures.push(`${name}: page shows error: ${err}`); }
    await page.screenshot({ path: join(SHOTS, `${name}-failure.png`), fullPage: true }).catch(() => {});
  } finally {
    await page.close();
  }
}

// ---- (1) the subject's self-service page --------------------------------------------
await run('me', async (page) => {
  const res = await page.goto(URL + '/me');
  must(res && res.ok(), `GET /me answers 200 (got ${res && res.status()})`);
  check((res.headers()['content-type'] || '').includes('text/html'), 'GET /me is HTML');
  // A bad key: the API's JSON error message is shown.
  await page.fill('#key', 'not-a-key');
  await page.fill('#subject', SUBJECT_ID);
  await page.click('#load');
  await page.waitForFunction(() => getComputedStyle(document.querySelector('#error')).display !== 'none');
  const bad = await pageError(page);
  check(/401/.test(bad) && bad.length > 20, `a bad key shows the API's message (${bad})`);
  await page.fill('#key', SUBJECT_KEY);
  await page.click('#load');
  await page.waitForFunction(() => !document.querySelector('#report').hidden || getComputedStyle(document.querySelector('#error')).display !== 'none');
  must(!(await pageError(page)), `report loads (error: ${await pageError(page)})`);

  const num = page.locator('#score-num');
  must(await num.isVisible(), 'score number is visible');
  const score = Number((await num.textContent()).trim());
  check(Number.isInteger(score) && score >= 350 && score <= 950, `score ${score} is in [350, 950]`);
  check(((await page.locator('#tier').textContent()) || '').trim().length > 0, 'tier is shown');
  const bars = await page.locator('.dim-bar').count();
  check(bars >= 1, `dimension bars exist (${bars})`);
  check(await page.locator('#history svg').count() === 1, 'history SVG exists');
  const points = await page.locator('#history svg circle').count();
  console.log(`       history points: ${points}`);
  const rows = await page.locator('#data-table tbody tr').count();
  check(rows >= 1, `data table has rows (${rows})`);
  check(await page.locator('#inquiries-table').isVisible(), 'inquiries section renders');

  // Grant a consent.
  const until = await page.inputValue('#consent-until');
  const asOf = ((await page.locator('#as-of').textContent()) || '').replace('as of ', '').trim();
  check(until > asOf, `default grant end ${until} is after the service's day ${asOf}`);
  await page.fill('#consent-party', 'bank-a');
  await page.fill('#consent-purpose', 'score');
  const before = await page.locator('#consents-list tr[data-grant]').count();
  await page.click('#consent-grant');
  await page.waitForFunction((n) => document.querySelectorAll('#consents-list tr[data-grant]').length > n
    || getComputedStyle(document.querySelector('#error')).display !== 'none', before);
  must(!(await pageError(page)), `grant accepted (error: ${await pageError(page)})`);
  const grant = page.locator('#consents-list tr[data-grant]', { hasText: 'bank-a' }).first();
  check(await grant.isVisible(), 'grant to bank-a appears in the consents list');
  check(((await grant.textContent()) || '').includes('score'), 'grant is for purpose score');
  check(((await grant.textContent()) || '').includes('valid'), 'grant is valid');

  // Dispute the first disputable entry.
  const btn = page.locator('.dispute-btn').first();
  must(await btn.count() === 1, 'there is a disputable data row');
  const event = await btn.getAttribute('data-event');
  const source = await btn.getAttribute('data-source');
  await btn.click();
  await page.fill('#dispute-reason', 'browser test: I do not recognise this entry');
  const dBefore = await page.locator('#disputes-list tr[data-dispute]').count();
  await page.click('#dispute-submit');
  await page.waitForFunction((n) => document.querySelectorAll('#disputes-list tr[data-dispute]').length > n
    || getComputedStyle(document.querySelector('#error')).display !== 'none', dBefore);
  must(!(await pageError(page)), `dispute accepted (error: ${await pageError(page)})`);
  const row = page.locator('#disputes-list tr[data-dispute]', { hasText: event }).first();
  check(await row.isVisible(), `dispute on ${source}/${event} appears`);
  check(((await row.locator('.dispute-status').textContent()) || '').trim() === 'open', 'dispute status is open');

  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = join(SHOTS, 'me.png');
  await page.screenshot({ path: shot, fullPage: true });
  const docH = await page.evaluate(() => document.documentElement.scrollHeight);
  checkShot(shot, Math.min(docH, VIEWPORT.height));
  console.log(`       screenshot ${shot} (${statSync(shot).size} bytes)`);
});

// ---- (2) the debtor map: a user walks toward a listed address -------------------------
await run('map', async (page) => {
  const origin = new globalThis.URL(URL).origin;
  await context.grantPermissions(['geolocation'], { origin });
  // Start 2 km east of the debtor's address.
  const step = 0.0047; // about 400 m of longitude at 40° N
  await context.setGeolocation({ latitude: MAP_LAT, longitude: MAP_LON + 5 * step });
  const res = await page.goto(URL + '/map');
  must(res && res.ok(), `GET /map answers 200 (got ${res && res.status()})`);
  await page.waitForFunction(() => /^\d/.test(document.querySelector('#where').textContent));
  check(await page.locator('.leaflet-container').count() === 1, 'Leaflet draws the map');
  check(await page.locator('path.leaflet-interactive, .leaflet-overlay-pane canvas').count() >= 1, 'the basemap is drawn');
  check((await page.locator('#count').textContent()).trim() === '0', 'nobody nearby at the start');
  for (let k = 4; k >= 0; k--) {
    await context.setGeolocation({ latitude: MAP_LAT, longitude: MAP_LON + k * step });
    await page.waitForTimeout(400);
  }
  await page.waitForFunction(() => document.querySelector('#alert').textContent.includes('测试债务人'));
  check(await page.locator('#alert.flash').count() === 1, 'the alert flashes on enter');
  const item = page.locator('#list .debtor', { hasText: '测试债务人' });
  must(await item.count() === 1, 'the debtor is listed once');
  const text = await item.textContent();
  check(text.includes('1101051949****002X'), `the ID is masked (${text.trim().slice(0, 60)})`);
  check(!text.includes('11010519491231002X'), 'the full ID is not shown');
  check(text.includes(MAP_CASE), 'the case is shown');
  const level = (await page.locator('#level').textContent()).trim();
  check(['low', 'elevated', 'high'].includes(level), `a warning level is shown (${level})`);
  // Walk on past: still one entry, no repeat.
  await context.setGeolocation({ latitude: MAP_LAT + 0.0005, longitude: MAP_LON });
  await page.waitForTimeout(600);
  check(await page.locator('#list .debtor', { hasText: '测试债务人' }).count() === 1, 'no repeat while inside');

  await page.click('#share');
  await page.waitForFunction(() => !document.querySelector('#share-box').hidden);
  const link = (await page.locator('#share-link').textContent()).trim();
  check(/\/map#\d+\.\d+,\d+\.\d+,\d+$/.test(link), `a share link (${link})`);

  await page.selectOption('#tip-case', MAP_CASE);
  await page.fill('#tip-text', TIP_TEXT);
  await page.click('#tip-send');
  await page.waitForFunction(() => getComputedStyle(document.querySelector('#notice')).display !== 'none'
    || getComputedStyle(document.querySelector('#error')).display !== 'none');
  must(!(await pageError(page)), `tip-off sent (error: ${await pageError(page)})`);
  check((await page.locator('#notice').textContent()).includes('Sent to the court'), 'the tip-off is acknowledged');

  const shot = join(SHOTS, 'map.png');
  await page.screenshot({ path: shot });
  checkShot(shot, VIEWPORT.height);
  console.log(`       screenshot ${shot} (${statSync(shot).size} bytes)`);
});

// ---- (3) the court console ------------------------------------------------------------
await run('court', async (page) => {
  const res = await page.goto(URL + '/court');
  must(res && res.ok(), `GET /court answers 200 (got ${res && res.status()})`);
  await page.fill('#key', COURT_KEY);
  await page.fill('#party', COURT_PARTY);
  await page.selectOption('#ev-kind', 'judgment');
  await page.fill('#ev-subject', SUBJECT_ID);
  await page.fill('#ev-case', '(2026)京0105执' + (Date.now() % 100000) + '号');
  await page.fill('#ev-court', '北京市朝阳区人民法院');
  await page.fill('#ev-amount', '12000');
  const preview = JSON.parse(await page.locator('#ev-preview').textContent());
  check(preview.source === COURT_PARTY && preview.kind === 'judgment' && preview.subject === SUBJECT_ID,
    'the preview line has the court party as source, kind judgment and the subject');
  await page.click('#ev-submit');
  await page.waitForFunction(() => !document.querySelector('#ev-result').hidden
    || getComputedStyle(document.querySelector('#error')).display !== 'none');
  must(!(await pageError(page)), `judgment sent (error: ${await pageError(page)})`);
  const accepted = ((await page.locator('#r-accepted').textContent()) || '').trim();
  const rejected = ((await page.locator('#r-rejected').textContent()) || '').trim();
  check(accepted === '1', `response shows accepted 1 (accepted ${accepted}, rejected ${rejected})`);
  if (rejected !== '0') console.log('       errors: ' + (await page.locator('#r-errors').textContent()));

  await page.click('#tipoffs-load');
  await page.waitForFunction(() => !document.querySelector('#tipoffs-list').textContent.includes('Not loaded')
    || getComputedStyle(document.querySelector('#error')).display !== 'none');
  must(!(await pageError(page)), `tip-off inbox loads (error: ${await pageError(page)})`);
  check(await page.locator('#tipoffs-section').isVisible(), 'tip-off section renders');
  const tips = await page.locator('#tipoffs-list tr').count();
  check(tips >= 1, `tip-off table has rows or the empty notice (${tips})`);
  check(await page.locator('#tipoffs-list tr', { hasText: TIP_TEXT }).count() === 1, 'the tip-off from the map is in the inbox');
  console.log('       tip-offs: ' + ((await page.locator('#tipoffs-count').textContent()) || '').trim());

  await page.click('#disputes-load');
  await page.waitForFunction(() => !document.querySelector('#disputes-list').textContent.includes('Not loaded')
    || getComputedStyle(document.querySelector('#error')).display !== 'none');
  check(!(await pageError(page)), `dispute list loads (error: ${await pageError(page)})`);

  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = join(SHOTS, 'court.png');
  await page.screenshot({ path: shot, fullPage: true });
  checkShot(shot, VIEWPORT.height > 600 ? 600 : VIEWPORT.height);
  console.log(`       screenshot ${shot} (${statSync(shot).size} bytes)`);
});

await browser.close();
for (const e of consoleErrors) { console.log(`  FAIL ${e}`); failures.push(e); }
if (failures.length) {
  console.log(`\n${failures.length} failure(s):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
console.log(`\nall browser checks passed; screenshots in ${SHOTS}`);
