// What the browser tests share: the daemon as a child process (started, stopped, restarted
// on the same port), Chromium with a fake microphone, and small waiting helpers. Paths and
// keys come from the Rust driver (tests/tests/browser.rs) through the environment.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through \`cargo xtask test\``);
  return value;
}

export const env = {
  bin: required('SCRIBE_BIN'),
  pluginsDir: required('SCRIBE_PLUGINS_DIR'),
  config: required('SCRIBE_CONFIG'),
  pairedConfig: required('SCRIBE_PAIRED_CONFIG'),
  fullDiskConfig: required('SCRIBE_FULL_DISK_CONFIG'),
  retentionConfig: required('SCRIBE_RETENTION_CONFIG'),
  work: required('SCRIBE_WORK'),
  chromium: required('SCRIBE_CHROMIUM'),
  microphone: required('SCRIBE_MICROPHONE'),
  uploads: required('SCRIBE_UPLOADS').split(':'),
  artifacts: required('SCRIBE_ARTIFACTS'),
  secrets: required('SCRIBE_SECRETS').split(':'),
};

/** Longest any single wait in these tests may take, ms. */
export const WAIT_MS = 60000;

/** `scribed serve` on `config` with its own data dir; resolves once it prints its URL. */
export async function startDaemon(config, dataName) {
  const data = join(env.work, dataName);
  mkdirSync(data, { recursive: true });
  const child = spawn(env.bin, ['serve', '--config', config, '--data-dir', data, '--plugins-dir', env.pluginsDir], {
    env: { ...process.env, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`scribed exited with ${code} before serving`)));
    lines.on('line', (line) => {
      const match = line.match(/^scribed is serving on (\S+)/);
      if (match) resolve(match[1].replace(/\/$/, ''));
    });
  });
  return { child, url, data };
}

/** Stops the daemon (SIGTERM) and waits for it to exit. */
export async function stopDaemon(daemon) {
  if (daemon.child.exitCode !== null) return;
  const exited = new Promise((resolve) => daemon.child.once('exit', resolve));
  daemon.child.kill('SIGTERM');
  await exited;
}

/** Headless Chromium whose microphone plays `env.microphone` in a loop. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${env.microphone}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** A page that fails the test on any dialog (alert, confirm, prompt) and collects errors. */
export async function openPage(context) {
  const page = await context.newPage();
  const problems = { dialogs: [], errors: [] };
  page.on('dialog', async (dialog) => {
    problems.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on('pageerror', (err) => problems.errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.errors.push(msg.text());
  });
  return { page, problems };
}

/** Saves a full-page screenshot as a test artifact. */
export async function screenshot(page, name) {
  mkdirSync(env.artifacts, { recursive: true });
  await page.screenshot({ path: join(env.artifacts, `${name}.png`), fullPage: true });
}

/** JSON from the daemon's API, outside the browser. */
export async function getJson(url, path, init = {}) {
  const response = await fetch(`${url}${path}`, init);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

/** Polls `fn` until it returns a truthy value. For state outside the page (the API) only. */
export async function eventually(fn, what, limitMs = WAIT_MS) {
  const deadline = Date.now() + limitMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}
