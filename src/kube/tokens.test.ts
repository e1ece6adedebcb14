import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { kubeClients } from './client.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';
import { TokenRequestSource } from './tokens.js';

const TOKEN_PATH = '/api/v1/namespaces/team-a/serviceaccounts/app/token';
const CANARY = 'eyJ-canary-token-value';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

function source(expirationSeconds = 900) {
  return new TokenRequestSource({ api: kubeClients(server.kubeConfig()).http, expirationSeconds });
}

const sa = { namespace: 'team-a', name: 'app' };

describe('TokenRequestSource', () => {
  it('posts a TokenRequest with audiences and expiry and returns the token with its expiry', async () => {
    server.route('POST', TOKEN_PATH, (req, res) => {
      const body = JSON.parse(req.body) as object;
      sendJson(res, 201, { ...body, status: { token: CANARY, expirationTimestamp: '2030-01-01T00:15:00Z' } });
    });
    const got = await source().request(sa, ['vault', 'https://vault.example']);
    expect(got).toEqual({ token: CANARY, expiresAt: Date.parse('2030-01-01T00:15:00Z') });
    const body = JSON.parse(server.received('POST', TOKEN_PATH)[0]?.body ?? '') as unknown;
    expect(body).toMatchObject({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['vault', 'https://vault.example'], expirationSeconds: 900 },
    });
  });

  it('never asks for less than the API server minimum of 600 s', async () => {
    server.route('POST', TOKEN_PATH, (_req, res) => {
      sendJson(res, 201, { status: { token: CANARY, expirationTimestamp: '2030-01-01T00:10:00Z' } });
    });
    await source(60).request(sa, ['vault']);
    const body = JSON.parse(server.received('POST', TOKEN_PATH)[0]?.body ?? '') as { spec: object };
    expect(body.spec).toMatchObject({ expirationSeconds: 600 });
  });

  it.each([
    [404, 'ServiceAccount team-a/app does not exist'],
    [403, 'the controller may not request tokens for ServiceAccount team-a/app'],
    [500, 'TokenRequest for ServiceAccount team-a/app failed (HTTP 500): boom'],
  ])('maps HTTP %i to ServiceAccountTokenFailed', async (code, message) => {
    server.route('POST', TOKEN_PATH, (_req, res) => {
      sendStatus(res, code, 'x', 'boom');
    });
    const err: unknown = await source()
      .request(sa, ['vault'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'ServiceAccountTokenFailed', status: code });
    expect((err as Error).message).toContain(message);
  });

  it('fails without a token in the answer rather than returning an empty one', async () => {
    server.route('POST', TOKEN_PATH, (_req, res) => {
      sendJson(res, 201, { status: {} });
    });
    await expect(source().request(sa, ['vault'])).rejects.toMatchObject({ reason: 'ServiceAccountTokenFailed' });
  });
});
