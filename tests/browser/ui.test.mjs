// The web UI end to end: the real daemon (with fake Deepgram and Anthropic), headless
// Chromium with a fake microphone. Run by `cargo xtask test` through tests/tests/browser.rs.
// The tests share one daemon and one browser and run in order: later ones use the sessions
// earlier ones made.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, startDaemon, stopDaemon, launchBrowser, openPage, screenshot, getJson, eventually, WAIT_MS } from './harness.mjs';

const HOSTILE_TITLE = '<img src=x onerror=alert(1)>';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let daemon;
let browser;
let context;
let page;
let problems;
let liveSessionId;

before(async () => {
  daemon = await startDaemon(env.config, 'data');
  browser = await launchBrowser();
  context = await browser.newContext({ permissions: ['microphone'], viewport: DESKTOP });
  ({ page, problems } = await openPage(context));
  page.setDefaultTimeout(WAIT_MS);
});

after(async () => {
  await browser?.close();
  if (daemon) await stopDaemon(daemon);
});

/** Records, in order, what the live view shows: interim texts and final paragraphs. */
async function watchLiveTranscript() {
  await page.evaluate(() => {
    window.seen = [];
    const interim = document.querySelector('#live-interim');
    const finals = document.querySelector('#live-finals');
    new MutationObserver(() => {
      if (interim.textContent) window.seen.push({ kind: 'interim', text: interim.textContent });
    }).observe(interim, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.seen.push({ kind: 'final', text: finals.textContent }))
      .observe(finals, { childList: true, characterData: true, subtree: true });
  });
}

/** Recordings waiting in this browser's outbox. */
function outboxSize() {
  return page.evaluate(async () => (await import('/js/unsent.js')).list().then((l) => l.length));
}

/**
 * A test whose failure leaves a screenshot of the page (`failed-<n>.png`) and the page's own
 * errors in the output.
 */
let testNumber = 0;
function uiTest(name, fn) {
  const number = (testNumber += 1);
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      await screenshot(page, `failed-${number}`).catch(() => {});
      console.error(`test ${number} failed; page errors: ${JSON.stringify(problems.errors)}`);
      throw err;
    }
  });
}

/** Waits until `tab`'s outbox holds a recording of at least `seconds` (IndexedDB has no change event to wait on). */
function recorded(tab, seconds) {
  return eventually(() => tab.evaluate(async (least) => {
    const recordings = await (await import('/js/unsent.js')).list();
    return recordings.some((r) => r.samples / r.sampleRate >= least);
  }, seconds), `${seconds} s of audio in the outbox`);
}

uiTest('installable: manifest, icons and a service worker in control', async () => {
  await page.goto(`${daemon.url}/`);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  assert.equal(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)), true, 'the service worker controls the page');
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], 'manifest parses');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // Test contexts are incognito, where Chromium never offers to install; nothing else may stop it.
  const errors = installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito');
  assert.deepEqual(errors, [], 'Chromium finds the app installable');
  await cdp.detach();
  assert.match(await page.locator('nav').innerText(), /Library[\s\S]*Live[\s\S]*Upload[\s\S]*Status/);
});

uiTest('record in the browser: interim then final words, stop, then in the library with transcript and summary', async () => {
  await page.goto(`${daemon.url}/#/live`);
  await page.locator('#record').waitFor();
  await watchLiveTranscript();
  await page.fill('#live-title', 'Garden call');
  await page.click('#record');
  await page.waitForFunction(() => (document.querySelector('#daemon-state')?.textContent ?? '').includes('transcribing live'));
  await page.waitForFunction(() => (document.querySelector('#provider-state')?.textContent ?? '').includes('connected'));
  // Other pages can be visited while recording; the Live tab shows the recording goes on.
  await page.waitForFunction(() => (document.querySelector('#live-finals')?.textContent ?? '').length > 0);
  await page.click('nav a[data-route="library"]');
  await page.locator('nav a.recording[data-route="live"]').waitFor();
  await page.click('nav a[data-route="live"]');
  // The last words of the live script, final.
  await page.waitForFunction(() => /spring\./.test((document.querySelector('#live-finals')?.textContent ?? '')));
  assert.notEqual(await page.locator('#elapsed').innerText(), '00:00', 'elapsed time runs');
  await screenshot(page, 'live-recording');

  const seen = await page.evaluate(() => window.seen);
  const firstInterim = seen.findIndex((s) => s.kind === 'interim');
  const firstFinal = seen.findIndex((s) => s.kind === 'final');
  assert.ok(firstInterim >= 0, 'interim words were shown');
  assert.ok(firstInterim < firstFinal, 'interim words came before the final ones');
  const provisional = await page.locator('#live-interim').evaluate((el) => getComputedStyle(el).fontStyle);
  assert.equal(provisional, 'italic', 'interim text looks provisional');
  assert.match(await page.locator('#live-finals').innerText(), /Speaker 1: Good morning/, 'speakers are named');

  await page.click('#record');
  const open = page.locator('#live-result a', { hasText: 'Open the session' });
  await open.waitFor();
  assert.equal(await outboxSize(), 0, 'the daemon confirmed the recording, so the outbox let it go');
  liveSessionId = decodeURIComponent((await open.getAttribute('href')).split('/').pop());

  await open.click();
  await page.waitForFunction(() => /tomatoes/.test(document.querySelector('#transcript')?.textContent ?? ''));
  await page.locator('#summary .overview').waitFor();
  assert.match(await page.locator('#summary').innerText(), /order the seeds tomorrow/i, 'the summary has the action item');
  assert.equal(await page.locator('#title').inputValue(), 'Garden call');
  await screenshot(page, 'session-live');

  await page.goto(`${daemon.url}/#/library`);
  await page.locator('.results .title', { hasText: 'Garden call' }).waitFor();
});

uiTest('upload two files: per-file progress, then both complete; non-audio files end in a readable error', async () => {
  await page.goto(`${daemon.url}/#/upload`);
  await page.locator('#dropzone').waitFor();
  await page.evaluate(() => {
    window.states = [];
    new MutationObserver(() => {
      for (const row of document.querySelectorAll('#uploads .upload')) {
        window.states.push(`${row.querySelector('.name').textContent}=${row.querySelector('.state').textContent}`);
      }
    }).observe(document.querySelector('#uploads'), { childList: true, subtree: true, characterData: true });
  });
  await page.setInputFiles('#files', env.uploads);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#uploads .upload')];
    return rows.length === 2 && rows.every((r) => r.querySelector('.state .badge')?.textContent === 'complete');
  });
  const progress = await page.locator('#uploads progress.sent').evaluateAll((bars) => bars.map((b) => b.value));
  assert.deepEqual(progress, [1, 1], 'both uploads reached 100 %');
  const states = await page.evaluate(() => window.states);
  for (const name of ['planning-one.wav', 'planning-two.flac']) {
    const mine = states.filter((s) => s.startsWith(`${name}=`)).map((s) => s.split('=')[1]);
    assert.ok(mine.includes('uploading'), `${name} showed its upload: ${mine}`);
    assert.ok(mine.some((s) => s === 'queued' || s === 'processing'), `${name} showed its job: ${mine}`);
  }

  // Files that are not audio end in a readable error, refused at once or when decoded.
  await page.setInputFiles('#files', [
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('meeting notes, not audio') },
    { name: 'broken.wav', mimeType: 'audio/wav', buffer: Buffer.from('RIFF but not really a wave file') },
  ]);
  for (const name of ['notes.txt', 'broken.wav']) {
    const row = page.locator('#uploads .upload', { has: page.locator('.name', { hasText: name }) });
    await row.locator('.state .badge', { hasText: 'error' }).waitFor();
    assert.match(await row.locator('.state .error').innerText(), /\w{3,}.*\w{3,}/, `${name} says why`);
  }
  await screenshot(page, 'upload');
});

uiTest('search a word: highlighted hit, click, the audio is at the word', async () => {
  await page.goto(`${daemon.url}/#/library`);
  await page.locator('#search').pressSequentially('budget');
  // A transcript hit (the summary mentions the budget too, without a time).
  const hit = page.locator('.hit[href*="?t="]', { has: page.locator('mark', { hasText: /^budget$/i }) }).first();
  await hit.waitFor();
  await screenshot(page, 'library-search');
  const href = await hit.getAttribute('href');
  const [, id, at] = href.match(/^#\/session\/([^?]+)\?t=(\d+)$/);
  const words = await getJson(daemon.url, `/api/v1/sessions/${id}/words`);
  const budget = words.words.find((w) => w.text === 'budget');
  assert.equal(Number(at), budget.start_ms, 'the hit links to the word\'s start');

  await hit.click();
  await page.waitForFunction(() => document.querySelector('#player')?.readyState >= 1);
  const currentMs = await page.evaluate(() => document.querySelector('#player').currentTime * 1000);
  assert.ok(Math.abs(currentMs - budget.start_ms) < 2, `audio at ${currentMs} ms, word at ${budget.start_ms} ms`);
  assert.match(await page.locator('#transcript .w.current').innerText(), /budget/i, 'the word is highlighted');

  // Clicking another word seeks there.
  const release = words.words.find((w) => w.text === 'release');
  await page.locator('#transcript .w', { hasText: /^release$/ }).first().click();
  await page.waitForFunction((ms) => Math.abs(document.querySelector('#player').currentTime * 1000 - ms) < 250, release.start_ms);
  await page.evaluate(() => document.querySelector('#player').pause());

  // Transcribed again: the new version is shown, the old one can be.
  await page.selectOption('#provider', 'deepgram-batch');
  await page.click('button:has-text("Transcribe again")');
  await page.locator('.versions li').nth(1).locator('strong', { hasText: '(shown)' }).waitFor();
  await page.locator('.versions li').first().getByRole('button', { name: /^Show the deepgram-batch version/ }).click();
  await page.locator('.versions li').first().locator('strong', { hasText: '(shown)' }).waitFor();
  assert.match(await page.locator('#transcript').innerText(), /budget/);
  assert.match(await page.locator('.exports a').first().getAttribute('href'), /&version=\d+$/, 'exports follow the shown version');
  await screenshot(page, 'session-file');
});

uiTest('user strings are text: a hostile title and <script> in the transcript run nothing', async () => {
  const { sessions } = await getJson(daemon.url, '/api/v1/sessions?kind=file&status=complete');
  const target = sessions[0];
  await getJson(daemon.url, `/api/v1/sessions/${target.id}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: HOSTILE_TITLE }),
  });
  await page.goto(`${daemon.url}/#/library`);
  await page.locator('.results .title', { hasText: HOSTILE_TITLE }).waitFor();
  await page.goto(`${daemon.url}/#/session/${target.id}`);
  await page.waitForFunction(() => document.querySelector('#transcript')?.textContent.includes('<script>alert(2)</script>'));
  assert.equal(await page.locator('#title').inputValue(), HOSTILE_TITLE);
  await page.goto(`${daemon.url}/#/library`);
  await page.locator('#search').pressSequentially('alert');
  await page.locator('.hit mark', { hasText: /alert/i }).first().waitFor();
  const injected = await page.evaluate(() => ({
    images: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].filter((s) => !s.src).length,
  }));
  assert.deepEqual(injected, { images: 0, scripts: 0 }, 'no element came from user text');
  assert.deepEqual(problems.dialogs, [], 'no dialog fired');
});

uiTest('status: plugins, health, configured yes/no without keys, roles with the summary model, queue, storage and voice profiles', async () => {
  await page.goto(`${daemon.url}/#/status`);
  const row = page.locator('#plugins tr[data-plugin="deepgram-batch"]');
  await row.waitFor();
  assert.equal(await row.locator('.configured').innerText(), 'yes');
  assert.match(await row.innerText(), /healthy/);
  assert.match(await page.locator('#storage').innerText(), /\d+(\.\d)? (KB|MB)/);
  assert.equal(await page.locator('#queue-files').innerText(), '0');
  // Deepgram tells its speakers apart, so no voice was enrolled: the profiles say how to make one.
  assert.match(await page.locator('#voices').innerText(), /name a speaker in a session/);
  assert.match(await page.locator('#role-diarizer').innerText(), /none/);
  assert.match(await page.locator('#role-summarizer').innerText(), /^claude-summary · model claude-sonnet-4-5 \(set in the configuration\)$/);
  const text = await page.locator('body').innerText();
  for (const secret of env.secrets) assert.ok(!text.includes(secret), 'no key is shown');
  await screenshot(page, 'status');
});

uiTest('keyboard, labels, phone screen and dark mode', async () => {
  await page.goto(`${daemon.url}/#/library`);
  await page.reload();
  await page.locator('#search').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip', 'the first Tab reaches the skip link');
  for (const route of ['library', 'live', 'upload', 'status', `session/${liveSessionId}`]) {
    await page.goto(`${daemon.url}/#/${route}`);
    await page.locator('main .view > *').first().waitFor();
    await page.waitForLoadState('networkidle');
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main button, main textarea, main meter, main progress')]
      .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
      .map((el) => el.outerHTML.slice(0, 80)));
    assert.deepEqual(unlabelled, [], `every control on ${route} has a name`);
  }

  const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  for (const [route, name] of [['library', 'phone-library'], [`session/${liveSessionId}`, 'phone-session']]) {
    await small.goto(`${daemon.url}/#/${route}`);
    await small.locator('main .view > *').first().waitFor();
    await small.waitForLoadState('networkidle');
    assert.ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${route} fits a phone`);
    await screenshot(small, name);
  }
  await phone.close();

  const dark = await browser.newContext({ viewport: DESKTOP, colorScheme: 'dark' });
  const night = await dark.newPage();
  await night.goto(`${daemon.url}/#/library`);
  await night.locator('.results .title').first().waitFor();
  const background = await night.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background, got ${background}`);
  await screenshot(night, 'library-dark');
  await dark.close();
});

uiTest('pairing: a token daemon asks once, keeps an HttpOnly cookie, never puts the token in a URL', async () => {
  const paired = await startDaemon(env.pairedConfig, 'paired-data');
  try {
    const token = readFileSync(join(paired.data, 'api-token'), 'utf8').trim();
    const fresh = await browser.newContext({ viewport: DESKTOP });
    const urls = [];
    fresh.on('request', (request) => urls.push(request.url()));
    const tab = await fresh.newPage();
    await tab.goto(`${paired.url}/#/library`);
    await tab.locator('#pair-token').waitFor();
    await screenshot(tab, 'pairing');
    await tab.fill('#pair-token', 'not-the-token');
    await tab.click('.pair button[type=submit]');
    await tab.locator('.pair .error', { hasText: 'not this daemon' }).waitFor();
    await tab.fill('#pair-token', token);
    await tab.click('.pair button[type=submit]');
    await tab.locator('#search').waitFor();
    const cookie = (await fresh.cookies()).find((c) => c.name === 'scribe_token');
    assert.ok(cookie, 'the browser keeps the pairing');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    await tab.reload();
    await tab.locator('#search').waitFor();
    await tab.goto(`${paired.url}/#/status`);
    await tab.locator('#plugins').waitFor();
    await fresh.close();

    // The printed pairing link: the token rides in the fragment and leaves the address bar.
    const linked = await browser.newContext({ viewport: DESKTOP });
    linked.on('request', (request) => urls.push(request.url()));
    const other = await linked.newPage();
    await other.goto(`${paired.url}/#pair=${token}`);
    await other.locator('#search').waitFor();
    assert.ok(!other.url().includes(token), 'the token left the address bar');
    await linked.close();
    assert.ok(urls.length > 5 && urls.every((u) => !u.includes(token)), 'no request URL carries the token');
  } finally {
    await stopDaemon(paired);
  }
});

uiTest('a nearly full disk: a notice on every page, an upload says why it waits, the status says so', async () => {
  const full = await startDaemon(env.fullDiskConfig, 'full-disk-data');
  const cramped = await browser.newContext({ viewport: DESKTOP });
  try {
    const tab = await cramped.newPage();
    await tab.goto(`${full.url}/#/upload`);
    await tab.locator('#disk .offline-indicator', { hasText: /Disk nearly full: \d+ MiB free/ }).waitFor();
    await tab.setInputFiles('#files', env.uploads[0]);
    const row = tab.locator('#uploads .upload');
    await row.locator('.state .badge', { hasText: 'error' }).waitFor();
    assert.match(await row.locator('.state .error').innerText(), /MiB are free.*storage\.min_free_mb/s);
    await tab.goto(`${full.url}/#/status`);
    await tab.locator('#disk-free', { hasText: 'too little' }).waitFor();
    await screenshot(tab, 'disk-full');
    const { sessions } = await getJson(full.url, '/api/v1/sessions');
    assert.equal(sessions.length, 0, 'nothing was taken');
  } finally {
    await cramped.close();
    await stopDaemon(full);
  }
});

uiTest('retention: a pinned session keeps its audio; one whose audio went keeps its transcript and says when', async () => {
  // Its size limit holds the first upload, not both.
  const kept = await startDaemon(env.retentionConfig, 'retention-data');
  const tab = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  const upload = async (file) => {
    const name = file.split('/').pop();
    const answer = await getJson(kept.url, `/api/v1/uploads?name=${name}`, { method: 'POST', body: readFileSync(file) });
    await eventually(async () => (await getJson(kept.url, `/api/v1/sessions/${answer.session_id}`)).session.status === 'complete', `${name} transcribed`);
    return answer.session_id;
  };
  try {
    const first = await upload(env.uploads[0]);
    await tab.goto(`${kept.url}/#/session/${first}`);
    await tab.locator('#player').waitFor();
    await tab.locator('#pin').check();
    await tab.locator('.note[role=status]', { hasText: 'Pinned' }).waitFor();
    assert.equal((await getJson(kept.url, `/api/v1/sessions/${first}`)).pinned, true, 'the pin is stored');

    const second = await upload(env.uploads[1]);
    const gone = await eventually(async () => {
      const detail = await getJson(kept.url, `/api/v1/sessions/${second}`);
      return detail.audio.state === 'removed' && detail;
    }, 'the second upload\'s audio removed over the limit');
    await tab.goto(`${kept.url}/#/session/${second}`);
    await tab.locator('#audio-removed', { hasText: /^Audio removed on .+all audio took more than.+the transcript stays\.$/ }).waitFor();
    assert.equal(await tab.locator('#player').count(), 0, 'no player without audio');
    assert.match(await tab.locator('#transcript').innerText(), /budget/, 'the transcript stays');
    assert.ok(gone.audio.removed.removed_ms > 0);
    await screenshot(tab, 'audio-removed');

    await tab.goto(`${kept.url}/#/session/${first}`);
    await tab.locator('#player').waitFor();
    assert.equal(await tab.locator('#pin').isChecked(), true);
  } finally {
    await tab.context().close();
    await stopDaemon(kept);
  }
});

uiTest('closing the tab while recording loses nothing and makes no duplicate', async () => {
  const tab = await context.newPage();
  tab.setDefaultTimeout(WAIT_MS);
  await tab.goto(`${daemon.url}/#/live`);
  await tab.fill('#live-title', 'Tab closed');
  await tab.click('#record');
  await tab.waitForFunction(() => (document.querySelector('#daemon-state')?.textContent ?? '').includes('transcribing live'));
  await recorded(tab, 3);
  await tab.close();
  // The other tab finds the abandoned recording, sees the daemon stored it whole, and lets it go.
  await page.goto(`${daemon.url}/#/library`);
  await eventually(async () => (await outboxSize()) === 0, 'the outbox to let the closed tab\'s recording go');
  const { sessions } = await getJson(daemon.url, '/api/v1/sessions');
  const mine = sessions.filter((s) => s.title.startsWith('Tab closed'));
  assert.equal(mine.length, 1, 'one session, no duplicate upload');
  assert.equal(mine[0].kind, 'live');
  assert.ok(mine[0].duration_ms >= 3000, `the audio is there: ${mine[0].duration_ms} ms`);
});

uiTest('offline: the cached library shows with an indicator; a recording made meanwhile is uploaded on return', async () => {
  // Visit what should be readable offline while the daemon is up.
  await page.goto(`${daemon.url}/#/session/${liveSessionId}`);
  await page.waitForFunction(() => /tomatoes/.test(document.querySelector('#transcript')?.textContent ?? ''));
  await page.goto(`${daemon.url}/#/library`);
  await page.locator('.results .title', { hasText: 'Garden call' }).waitFor();

  await stopDaemon(daemon);
  await page.reload();
  await page.locator('.offline-indicator').waitFor();
  await page.locator('.results .title', { hasText: 'Garden call' }).waitFor();
  await screenshot(page, 'offline-library');
  await page.locator('.results .title', { hasText: 'Garden call' }).click();
  await page.waitForFunction(() => /tomatoes/.test(document.querySelector('#transcript')?.textContent ?? ''));
  assert.equal(await page.locator('#title').evaluate((el) => el.readOnly), true, 'offline means read-only');
  assert.equal(await page.getByRole('button', { name: 'Delete session…' }).count(), 0, 'nothing to delete offline');

  await page.goto(`${daemon.url}/#/live`);
  await page.fill('#live-title', 'Recorded offline');
  await page.click('#record');
  await page.waitForFunction(() => (document.querySelector('#daemon-state')?.textContent ?? '').includes('cannot be reached'));
  await recorded(page, 3);
  await page.click('#record');
  await page.locator('#live-result', { hasText: 'Kept in this browser' }).waitFor();
  await page.goto(`${daemon.url}/#/library`);
  await page.locator('#unsent', { hasText: /Waiting to upload from this browser \(1\)[\s\S]*Recorded offline .* 00:0[3-9]/ }).waitFor();
  assert.equal(await outboxSize(), 1);
  await screenshot(page, 'offline-outbox');

  daemon = await startDaemon(env.config, 'data');
  await page.locator('.results .title', { hasText: 'Recorded offline' }).waitFor();
  await page.waitForFunction(() => !document.querySelector('.offline-indicator'));
  await page.waitForFunction(() => (document.querySelector('#unsent')?.textContent ?? '') === '');
  assert.equal(await outboxSize(), 0, 'the outbox let the recording go once the daemon had it');
  const { sessions } = await getJson(daemon.url, '/api/v1/sessions');
  const uploaded = sessions.find((s) => s.title.startsWith('Recorded offline'));
  assert.ok(uploaded, 'the offline recording is a session');
  const done = await eventually(async () => {
    const detail = await getJson(daemon.url, `/api/v1/sessions/${uploaded.id}`);
    return detail.session.status === 'complete' && detail;
  }, 'the uploaded recording to be transcribed');
  assert.ok(done.session.duration_ms >= 3000, `the whole recording arrived: ${done.session.duration_ms} ms`);
  assert.deepEqual(problems.dialogs, []);
});
