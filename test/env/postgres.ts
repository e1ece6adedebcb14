/**
 * A real PostgreSQL server (Debian's postgresql package) as a local process on loopback, for the
 * database secrets engine of OpenBao: its own data directory under the test's directory, a free
 * port, password (SCRAM) logins over TCP only. PostgreSQL refuses to run as root, so when the
 * harness is root the server runs as the `postgres` user (VAULTSYNC_PG_USER picks another) through
 * setpriv, which execs: the process the harness signals is the postmaster itself.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Fatal, waitFor } from './http.js';
import { freePort, Proc } from './process.js';

const run = promisify(execFile);

/** Where Debian puts the server binaries; VAULTSYNC_PG_BIN overrides. The newest version wins. */
export function postgresBinDir(env = process.env): string {
  if (env.VAULTSYNC_PG_BIN) return env.VAULTSYNC_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      'PostgreSQL server not found under /usr/lib/postgresql: `apt-get install -y postgresql` (or set VAULTSYNC_PG_BIN)',
    );
  }
  return join(root, newest, 'bin');
}

interface RunAs {
  uid: number;
  gid: number;
}

async function runAsUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env.VAULTSYNC_PG_USER ?? 'postgres';
  const { stdout: uid } = await run('id', ['-u', user]);
  const { stdout: gid } = await run('id', ['-g', user]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/** The command line that runs `cmd args` as `as` (or as ourselves when not root). */
function asUser(as: RunAs | undefined, cmd: string, args: string[]): [string, string[]] {
  if (as === undefined) return [cmd, args];
  return ['setpriv', [`--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--', cmd, ...args]];
}

export class Postgres {
  readonly superuser = 'vaultadmin';
  readonly password = randomBytes(18).toString('base64url');
  port = 0;
  private proc: Proc | undefined;

  private constructor(
    readonly bin: string,
    readonly dir: string,
    private readonly logDir: string,
    private readonly as: RunAs | undefined,
  ) {}

  /** initdb into `<parent>/postgres` and start the server. `parent` must be traversable by the server's user. */
  static async start(parent: string, logDir: string): Promise<Postgres> {
    const bin = postgresBinDir();
    const as = await runAsUser();
    const dir = join(parent, 'postgres');
    mkdirSync(dir, { mode: 0o700 });
    if (as !== undefined) {
      // The server's user must reach its directory through the test's (0700) directory.
      chmodSync(parent, 0o711);
      chownSync(dir, as.uid, as.gid);
    }
    const pg = new Postgres(bin, dir, logDir, as);
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${pg.password}\n`, { mode: 0o600 });
    if (as !== undefined) chownSync(pwfile, as.uid, as.gid);
    const [cmd, args] = asUser(as, join(bin, 'initdb'), [
      `--pgdata=${join(dir, 'data')}`,
      `--username=${pg.superuser}`,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--no-sync',
      '--no-instructions',
      '--encoding=UTF8',
      '--locale=C',
    ]);
    await run(cmd, args, { cwd: dir });
    pg.port = await freePort();
    await pg.startServer();
    return pg;
  }

  private async startServer(): Promise<void> {
    if (this.proc === undefined) {
      const [cmd, args] = asUser(this.as, join(this.bin, 'postgres'), [
        '-D',
        join(this.dir, 'data'),
        '-h',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-F',
        '-c',
        'max_connections=200',
        '-c',
        'log_min_messages=warning',
      ]);
      this.proc = new Proc('postgres', cmd, args, this.logDir, { PATH: process.env.PATH ?? '', LANG: 'C' });
    }
    const proc = this.proc;
    proc.start();
    await waitFor(
      'postgres accepting connections',
      async () => {
        if (!proc.running) throw new Fatal(`postgres exited; see ${proc.logFile}`);
        return (await this.tryQuery(this.superuser, this.password, 'SELECT 1')).ok;
      },
      30_000,
      200,
    );
  }

  /** The URL OpenBao's postgresql-database-plugin uses (its {{username}}/{{password}} templates). */
  get connectionUrl(): string {
    return `postgresql://{{username}}:{{password}}@127.0.0.1:${this.port}/postgres?sslmode=disable`;
  }

  /** Runs `sql` with psql as `user`; `ok` false (with psql's message) when it cannot log in or fails. */
  async tryQuery(user: string, password: string, sql: string): Promise<{ ok: boolean; out: string }> {
    try {
      const { stdout } = await run(
        join(this.bin, 'psql'),
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(this.port),
          '-U',
          user,
          '-d',
          'postgres',
          '-tAX',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          sql,
        ],
        { env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' }, timeout: 15_000 },
      );
      return { ok: true, out: stdout.trim() };
    } catch (err) {
      const stderr = (err as { stderr?: unknown }).stderr;
      return { ok: false, out: (typeof stderr === 'string' && stderr !== '' ? stderr : (err as Error).message).trim() };
    }
  }

  /** As the superuser; throws on failure. */
  async query(sql: string): Promise<string> {
    const r = await this.tryQuery(this.superuser, this.password, sql);
    if (!r.ok) throw new Error(`psql: ${r.out}`);
    return r.out;
  }

  /** Roles OpenBao created (their names start with `v-`, the plugin's default username template). */
  async generatedRoles(): Promise<string[]> {
    const out = await this.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1");
    return out === '' ? [] : out.split('\n');
  }

  /** Stops the server (OpenBao then cannot reach it); start() brings it back on the same port. */
  async stop(): Promise<void> {
    await this.proc?.stop(10_000);
  }

  async start(): Promise<void> {
    await this.startServer();
  }
}
