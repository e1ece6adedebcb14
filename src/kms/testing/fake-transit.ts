/**
 * A Vault speaking just enough HTTP for the plugin's unit tests: Transit encrypt/decrypt with
 * versioned keys (real AES-GCM, so ciphertext never holds the plaintext), token lookup/renew, and
 * AppRole/cert logins. Tests steer it (rotate, go down, refuse tokens) and read what it was asked.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface TokenInfo {
  ttl: number;
  renewable: boolean;
  /** Seconds a renewal grants (max TTL reached: less each time). */
  renewTo?: number;
}

export class FakeTransit {
  readonly server: Server;
  url = '';
  /** Method and path of every request, in order. */
  readonly requests: { method: string; path: string; token: string | undefined }[] = [];
  readonly tokens = new Map<string, TokenInfo>();
  /** Answer every request with this status (503: sealed or down), when set. */
  failWith: number | undefined;
  /** Hold every answer this long. */
  delayMs = 0;
  /** Tokens allowed to use Transit; others get 403 there even if known. */
  policyAllows: (token: string) => boolean = () => true;
  loginToken = 'login-token';
  loginTtl = 60;
  private readonly keys: Buffer[] = [randomBytes(32)];

  constructor(
    readonly mount = 'transit',
    readonly keyName = 'kms',
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(mount?: string, keyName?: string): Promise<FakeTransit> {
    const f = new FakeTransit(mount, keyName);
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  get version(): number {
    return this.keys.length;
  }

  rotate(): void {
    this.keys.push(randomBytes(32));
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const path = (req.url ?? '').replace(/^\/v1\//, '');
    const token = req.headers['x-vault-token'] as string | undefined;
    this.requests.push({ method: req.method ?? '', path, token });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (this.failWith !== undefined) return send(this.failWith, { errors: ['Vault is sealed'] });
    const known = token === undefined ? undefined : this.tokens.get(token);

    if (path === `${this.mount}/encrypt/${this.keyName}` || path === `${this.mount}/decrypt/${this.keyName}`) {
      if (known === undefined || !this.policyAllows(token ?? '')) return send(403, { errors: ['permission denied'] });
      if (path.includes('/encrypt/')) {
        const plaintext = Buffer.from(String(body.plaintext), 'base64');
        return send(200, { data: { ciphertext: this.seal(plaintext), key_version: this.version } });
      }
      const opened = this.open(String(body.ciphertext));
      if (opened === undefined) return send(400, { errors: ['cipher: message authentication failed'] });
      return send(200, { data: { plaintext: opened.toString('base64') } });
    }
    if (path === 'auth/token/lookup-self') {
      if (known === undefined) return send(403, { errors: ['permission denied'] });
      return send(200, { data: { ttl: known.ttl, renewable: known.renewable } });
    }
    if (path === 'auth/token/renew-self') {
      if (known === undefined) return send(403, { errors: ['permission denied'] });
      const ttl = known.renewTo ?? known.ttl;
      return send(200, { auth: { client_token: token, lease_duration: ttl, renewable: known.renewable } });
    }
    if (path === 'auth/approle/login' || path === 'auth/cert/login') {
      if (path === 'auth/approle/login' && (body.role_id !== 'role-1' || body.secret_id !== 'secret-1')) {
        return send(400, { errors: ['invalid role or secret ID'] });
      }
      this.tokens.set(this.loginToken, { ttl: this.loginTtl, renewable: true });
      return send(200, { auth: { client_token: this.loginToken, lease_duration: this.loginTtl, renewable: true } });
    }
    return send(404, { errors: [`no handler for ${path}`] });
  }

  private seal(plaintext: Buffer): string {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.keys[this.version - 1] ?? Buffer.alloc(32), nonce);
    const out = Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
    return `vault:v${this.version}:${out.toString('base64')}`;
  }

  private open(ciphertext: string): Buffer | undefined {
    const m = /^vault:v([0-9]+):(.+)$/.exec(ciphertext);
    const key = m ? this.keys[Number(m[1]) - 1] : undefined;
    if (!m || key === undefined) return undefined;
    const raw = Buffer.from(m[2] ?? '', 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      return undefined;
    }
  }
}
