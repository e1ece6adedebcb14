import { describe, expect, it } from 'vitest';
import { convertTemplate } from './template.js';

describe('convertTemplate: Go templates → Liquid', () => {
  const ok: [string, string][] = [
    ['executed: {{ .one }}|{{ .two }}', 'executed: {{ one }}|{{ two }}'],
    ['{{ .mysecret }}', '{{ mysecret }}'],
    ['{{ .password | toString }}', '{{ password }}'],
    ['{{ index . "tls.crt" }}', '{{ ["tls.crt"] }}'],
    ['{{ index . "my-key" | b64dec }}', '{{ ["my-key"] | base64_decode }}'],
    ['{{ .a | b64enc }}', '{{ a | base64_encode }}'],
    ['{{ b64dec .a }}', '{{ a | base64_decode }}'],
    ['{{ .a | upper | trim }}', '{{ a | upcase | strip }}'],
    ['{{ lower .a }}', '{{ a | downcase }}'],
    ['{{ .a | default "x" }}', '{{ a | default: "x" }}'],
    ['{{ default "x" .a }}', '{{ a | default: "x" }}'],
    ['{{ .a | replace "-" "_" }}', '{{ a | replace: "-", "_" }}'],
    ['{{ .cfg | indent 4 }}', '{{ cfg | indent: 4 }}'],
    ['{{ .a | quote }}', '{{ a | quote }}'],
    ['{{ .a | toJson }}', '{{ a | json }}'],
    ['postgres://{{ .user }}:{{ .pass }}@db:5432/app', 'postgres://{{ user }}:{{ pass }}@db:5432/app'],
    ['{{ printf "%s:%s" .user .pass | b64enc }}', '{{ user | append: ":" | append: pass | base64_encode }}'],
    ['{{ printf "user=%s" .u }}', '{{ "user=" | append: u }}'],
    ['{{ printf "{{ .username | toString }}" }}', '{{% raw %}{{ .username | toString }}{% endraw %}'.slice(1)],
    ['a\n  {{- .x -}}  \nb', 'a{{ x }}b'],
    ['{{/* a comment */}}x', 'x'],
    ['{{ .a.b }}', '{{ a.b }}'],
    ['{"auths":{"r":{"auth":"{{ .x }}"}}}', '{"auths":{"r":{"auth":"{{ x }}"}}}'],
  ];
  for (const [go, liquid] of ok) {
    it(`${JSON.stringify(go)} → ${JSON.stringify(liquid)}`, () => {
      expect(convertTemplate(go)).toEqual({ ok: true, liquid });
    });
  }

  const refused: [string, RegExp][] = [
    ['{{ if .a }}x{{ end }}', /if/],
    ['{{ range $k, $v := . }}{{ $k }}{{ end }}', /range/],
    ['{{ $x := .a }}', /variables/],
    ['{{ .a | pkcs12key }}', /pkcs12key has no vaultsync equivalent/],
    ['{{ (b64dec .a) | upper }}', /parenthesised/],
    ['{{ printf "%05d" .a }}', /printf verb %0/],
    ['{{ .a ', /closing/],
    ['{{ . }}', /whole value map/],
    ['{{ .a | replace "x" }}', /replace with 1 argument/],
  ];
  for (const [go, why] of refused) {
    it(`refuses ${JSON.stringify(go)}`, () => {
      const r = convertTemplate(go);
      expect(r.ok).toBe(false);
      expect(r.ok ? '' : r.why).toMatch(why);
    });
  }
});
