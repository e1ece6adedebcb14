const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * A JSON pointer as TypeBox reports it (`/spec/data/0/secretKey`) in the dotted form users write
 * in YAML and kubectl explain: `spec.data[0].secretKey`, map keys quoted where needed
 * (`spec.target.labels["app.kubernetes.io/name"]`). The empty pointer is the object itself.
 */
export function formatPath(pointer: string): string {
  if (pointer === '') return 'SecretSync';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^(0|[1-9][0-9]*)$/.test(segment)) out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
