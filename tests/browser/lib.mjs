// What every browser test shares: Debian's Chromium under playwright-core with the flags this
// closed network needs, the stack's addresses from the environment, and checks that hold on
// every page (no request leaves the origin, no CSP violation).
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const BASE = required('TALECAST_BASE_URL');
export const KEY = required('TALECAST_API_KEY');
export const PROVIDERS = process.env.TALECAST_PROVIDERS_URL || '';
export const OUT = process.env.TALECAST_BROWSER_OUT || 'target/browser';
mkdirSync(OUT, { recursive: true });

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (tests/api/browser.rs sets it)`);
  return v;
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  // Without these Chromium calls Google's hosts at start, which this network refuses.
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio',
];

/** A browser and one page, with the checks that hold on every page collected as it runs. */
export async function open() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const origin = new URL(BASE).origin;
  const watch = { foreign: [], consoleErrors: [], responses: [] };
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin && u.protocol !== 'data:' && u.protocol !== 'blob:') watch.foreign.push(r.url());
  });
  page.on('console', (m) => { if (m.type() === 'error') watch.consoleErrors.push(m.text()); });
  page.on('response', (r) => watch.responses.push({ url: r.url(), status: r.status(), request: r.request() }));
  return { browser, page, watch };
}

/** The checks of `open`: nothing fetched from another origin, and no CSP report. */
export function assertClean(watch) {
  check(watch.foreign.length === 0, `requests left the origin: ${watch.foreign.join(', ')}`);
  const csp = watch.consoleErrors.filter((t) => /Content Security Policy/i.test(t));
  check(csp.length === 0, `CSP violations: ${csp.join(' | ')}`);
}

/** Presses Tab until `selector` has the focus: proof that the keyboard reaches it. */
export async function tabTo(page, selector, max = 80) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => Boolean(document.activeElement && document.activeElement.matches(s)), selector)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${selector} cannot be reached with Tab (${max} presses)`);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

/** The key as a person would paste it: typed into the field, submitted with Enter. */
export async function signIn(page, key = KEY) {
  await page.goto(BASE + '/');
  await tabTo(page, '#key-input');
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
}

/** A provider stand-in's admin API (faults). */
export async function providers(method, path, body) {
  const res = await fetch(`${PROVIDERS}/__admin/${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  check(res.ok, `${method} /__admin/${path}: ${res.status}`);
}

/** The API called as a script would (to check what the page did); `token` for admin routes. */
export async function api(method, path, body, token = KEY) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

/** What a first visit transfers: every file of web/ gzipped (as served compressed). */
export function pageGzipBytes(dir = 'web') {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) total += pageGzipBytes(p);
    else if (name !== '_headers') total += gzipSync(readFileSync(p), { level: 9 }).length;
  }
  return total;
}

/**
 * Runs the scenarios in order (each builds on the one before, so the first failure skips the
 * rest), prints each result and the run's figures, closes the browser; the exit code.
 */
export async function run(browser, scenarios) {
  const started = Date.now();
  let failed = 0;
  for (const [name, fn] of scenarios) {
    if (failed) { console.log(`skip ${name}`); continue; }
    const t = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${(e && e.stack) || e}`);
    }
  }
  await browser.close();
  console.log(`figure: chromium run ${((Date.now() - started) / 1000).toFixed(1)} s, ${scenarios.length} scenarios, ${failed ? 'failed' : 'all passed'}`);
  process.exit(failed ? 1 : 0);
}
