import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { checkSecretType } from './secret-type.js';
import { renderTemplates } from './template.js';

const CANARY = 'Canary_Tpl_9c2e';
const vals = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));
const input = {
  values: vals({ user: 'app', password: `p@ss ${CANARY}`, host: 'db', 'tls.crt': 'CERT', cfg: '{"a":{"b":[1,2]}}' }),
  sources: new Map([['db', vals({ user: 'dbuser' })]]),
};
const one = async (template: string) =>
  (await renderTemplates({ data: { out: template }, mergePolicy: 'Replace' }, input)).get('out')?.toString('utf8');

async function failure(template: string): Promise<SyncError> {
  try {
    await one(template);
  } catch (err) {
    if (err instanceof SyncError) return err;
    throw err;
  }
  throw new Error('expected a TemplateError');
}

describe('templates', () => {
  it.each([
    [
      'postgres://{{ user }}:{{ password | url_encode }}@{{ host }}:5432/app',
      `postgres://app:p%40ss+${CANARY}@db:5432/app`,
    ],
    ['{{ user | b64enc }}|{{ "YXBw" | b64dec }}|{{ user | base64_encode }}', 'YXBw|app|YXBw'],
    ['{{ user | upper }}{{ "X" | lower }}{{ "  t  " | trim }}', 'APPxt'],
    ['{{ user | quote }} {{ user | squote }}', `"app" 'app'`],
    ['{{ data["tls.crt"] }} {{ sources.db.user }}', 'CERT dbuser'],
    ['{% assign c = cfg | fromJson %}{{ c.a.b[1] }} {{ c | toJson }}', '2 {"a":{"b":[1,2]}}'],
    ['{{ "" | default: "fallback" }}', 'fallback'],
    ['a:{{ "x\ny" | indent: 2 }}|{{ "z" | nindent: 4 }}', 'a:  x\n  y|\n    z'],
    ['{% if user == "app" %}yes{% endif %}', 'yes'],
  ])('%s', async (template, want) => {
    expect(await one(template)).toBe(want);
  });

  it('renders a .dockerconfigjson', async () => {
    const t =
      '{"auths":{"{{ host }}":{"username":{{ user | json }},"password":{{ password | json }},"auth":"{{ user | append: ":" | append: password | b64enc }}"}}}';
    const out = JSON.parse((await one(t)) ?? '') as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(out.auths.db!.auth, 'base64').toString()).toBe(`app:p@ss ${CANARY}`);
  });

  it.each([
    ['{{ user.constructor }}', 'undefined variable'],
    ['{{ user.__proto__ }}', 'undefined variable'],
    ['{{ password.constructor.name }}', 'undefined variable'],
    ['{% include "/etc/passwd" %}', 'cannot use {% include %}'],
    ['{% render "x" %}', 'cannot use {% render %}'],
    ['{% layout "x" %}', 'cannot use {% layout %}'],
    ['{{ password | nope }}', 'undefined filter'],
    ['{{ nope }}', 'undefined variable: nope'],
    ['{% for i in (1..100000000) %}{% for j in (1..100000000) %}{{ password }}{% endfor %}{% endfor %}', 'limit'],
    ['{% assign s = password %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}', 'limit'],
    ['{{ password | fromJson }}', 'fromJson: the value is not valid JSON'],
    ['{{ password | b64dec }}', 'b64dec: the value is not valid Base64'],
    ['{{ password', 'not closed'],
  ])('refuses %s without quoting a value', async (template, fragment) => {
    const err = await failure(template);
    expect(err.reason).toBe('TemplateError');
    expect(err.message).toContain(fragment);
    expect(err.message).toContain('spec.template.data["out"]');
    expect(err.message).not.toContain(CANARY);
    expect(err.message).not.toContain('p@ss');
  });

  it('bounds the output of one template', async () => {
    const err = await failure(
      '{% for i in (1..3000) %}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{{ cfg }}{% endfor %}',
    );
    expect(err.reason).toBe('TemplateError');
    expect(err.message).not.toContain(CANARY);
  });

  it('parse errors are terminal, render errors are retried', async () => {
    expect((await failure('{{ x')).terminal).toBe(true);
    expect((await failure('{{ nope }}')).terminal).toBe(false);
  });
});

describe('Secret type checks', () => {
  const PEM = (label: string) => `-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`;
  const check = (type: string, o: Record<string, string>) => () => checkSecretType(type, vals(o));
  it('accepts what each type needs', () => {
    expect(check('kubernetes.io/dockerconfigjson', { '.dockerconfigjson': '{"auths":{}}' })).not.toThrow();
    expect(
      check('kubernetes.io/tls', { 'tls.crt': PEM('CERTIFICATE'), 'tls.key': PEM('EC PRIVATE KEY') }),
    ).not.toThrow();
    expect(check('kubernetes.io/basic-auth', { password: 'x' })).not.toThrow();
    expect(check('kubernetes.io/ssh-auth', { 'ssh-privatekey': 'k' })).not.toThrow();
    expect(check('Opaque', {})).not.toThrow();
  });
  it.each([
    ['kubernetes.io/dockerconfigjson', {}, 'InvalidSpec'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': CANARY }, 'BadVaultData'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': `{"x":"${CANARY}"}` }, 'BadVaultData'],
    ['kubernetes.io/tls', { 'tls.crt': PEM('CERTIFICATE') }, 'InvalidSpec'],
    ['kubernetes.io/tls', { 'tls.crt': CANARY, 'tls.key': PEM('PRIVATE KEY') }, 'BadVaultData'],
    ['kubernetes.io/tls', { 'tls.crt': PEM('CERTIFICATE'), 'tls.key': CANARY }, 'BadVaultData'],
    ['kubernetes.io/basic-auth', { other: CANARY }, 'InvalidSpec'],
    ['kubernetes.io/ssh-auth', { other: CANARY }, 'InvalidSpec'],
  ])('%s with %j: %s, no value in the message', (type, o, reason) => {
    try {
      check(type, o)();
      throw new Error('expected a SyncError');
    } catch (err) {
      expect(err).toBeInstanceOf(SyncError);
      expect((err as SyncError).reason).toBe(reason);
      expect((err as SyncError).message).not.toContain(CANARY);
    }
  });
});
