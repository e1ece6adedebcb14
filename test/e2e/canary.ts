/**
 * The leak check every reliability and security file ends with: no canary (a value planted in
 * Vault, a token) appears in anything the controller produced — its logs, the events in every
 * namespace, every SecretSync's status, its /metrics text and the error messages collected by the
 * test — neither as is nor base64-encoded at any alignment.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { call, must } from '../env/http.js';
import type { TestEnv } from '../env/testenv.js';

/**
 * Substrings that any base64 (or base64url) text containing `value` must contain: the encoding of
 * the value after 0, 1 and 2 bytes of prefix, without the edge characters the prefix and suffix share.
 */
export function encodedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out = new Set<string>();
  for (let o = 0; o < 3; o++) {
    const b64 = Buffer.concat([Buffer.alloc(o), bytes]).toString('base64');
    const start = o === 0 ? 0 : 4;
    const end = Math.floor((o + bytes.length) / 3) * 4;
    const core = b64.slice(start, end);
    if (core.length >= 8) {
      out.add(core);
      out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...out];
}

/** Every token the harness holds for the controller itself (kube API and Vault audiences). */
export function controllerTokens(env: TestEnv): string[] {
  const kc = parseYaml(readFileSync(env.controllerKubeconfig, 'utf8')) as { users: { user: { tokenFile?: string } }[] };
  const files = [env.controllerVaultTokenFile, kc.users[0]?.user.tokenFile].filter((f): f is string => f !== undefined);
  return files.map((f) => readFileSync(f, 'utf8').trim());
}

export interface CanaryCheck {
  /** Values planted in Vault, tokens the test requested. The root token and controller tokens are added. */
  canaries: string[];
  /** /metrics of each running controller. */
  metricsUrls: string[];
  /** More text the controller produced (webhook answers, CLI output), by where it came from. */
  extra?: Record<string, string>;
}

/** Collects every haystack and fails naming where a canary (or an encoding of it) was found. */
export async function assertNoCanaries(env: TestEnv, check: CanaryCheck): Promise<void> {
  const canaries = [...check.canaries, env.rootToken, ...controllerTokens(env)].filter((c) => c.length >= 8);
  const haystacks: Record<string, string> = { ...check.extra };
  for (const [name, text] of Object.entries(env.logs()))
    if (name.startsWith('controller')) haystacks[`log ${name}`] = text;
  const events = await must(env.kube, 'GET', '/api/v1/events');
  haystacks['core/v1 events, all namespaces'] = events.text;
  const newEvents = await must(env.kube, 'GET', '/apis/events.k8s.io/v1/events');
  haystacks['events.k8s.io/v1 events, all namespaces'] = newEvents.text;
  const syncs = await must<{ items: { metadata: { namespace: string; name: string }; status?: unknown }[] }>(
    env.kube,
    'GET',
    '/apis/vaultsync.io/v1alpha1/secretsyncs',
  );
  for (const s of syncs.body.items)
    haystacks[`status ${s.metadata.namespace}/${s.metadata.name}`] = JSON.stringify(s.status ?? {});
  for (const url of check.metricsUrls) {
    const r = await call({ url }, 'GET', '/metrics');
    expect(r.status, `GET ${url}/metrics`).toBe(200);
    haystacks[`metrics ${url}`] = r.text;
  }
  // The check is not vacuous: there is a log to search, and events and statuses exist.
  expect(Object.keys(haystacks).some((k) => k.startsWith('log ') && (haystacks[k]?.length ?? 0) > 1000)).toBe(true);
  expect(syncs.body.items.length).toBeGreaterThan(0);

  const found: string[] = [];
  for (const canary of canaries) {
    const needles = [canary, ...encodedForms(canary)];
    for (const [where, text] of Object.entries(haystacks)) {
      if (needles.some((n) => text.includes(n))) found.push(`${where} contains canary ${canary.slice(0, 6)}…`);
    }
  }
  expect(found).toEqual([]);
}
