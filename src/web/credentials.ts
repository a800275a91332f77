/**
 * guacd's `required` prompt (protocol 1.3.0+; VNC and RDP ask when a
 * connection has no stored password or username): a login form for the
 * names asked, and the answers sent back as `argv` streams, one per name.
 * Values travel as UTF-8 through TextEncoder (guacamole-common-js 1.5.0's
 * StringWriter splits characters above U+FFFF, see clipboard.ts).
 */
import Guacamole from 'guacamole-common-js';

/** Labels of the names guacd asks for (libguac's `GUAC_*_ARGV_*` names). */
const LABELS: Readonly<Record<string, string>> = {
  username: 'Username',
  password: 'Password',
  domain: 'Domain',
  passphrase: 'Key passphrase',
};

/** Names whose value is a secret: masked, never autofilled as a new password. */
const SECRET = new Set(['password', 'passphrase']);

/**
 * Builds the login form for `names`. The values reach `onSubmit` once; the
 * fields are emptied then, so no secret stays in the page.
 * @param doc - the document to build in.
 * @param names - what guacd asked for, in its order.
 * @param onSubmit - gets a value (maybe empty) for every name.
 */
export function createCredentialsForm(
  doc: Document,
  names: readonly string[],
  onSubmit: (values: Record<string, string>) => void,
): HTMLFormElement {
  const form = doc.createElement('form');
  form.className = 'gg-login';
  form.autocomplete = 'on';
  const inputs: [string, HTMLInputElement][] = [];
  for (const name of names) {
    const label = doc.createElement('label');
    label.className = 'gg-login-field';
    label.textContent = LABELS[name] ?? name;
    const input = doc.createElement('input');
    input.name = name;
    input.type = SECRET.has(name) ? 'password' : 'text';
    input.autocomplete = name === 'username' ? 'username' : SECRET.has(name) ? 'current-password' : 'off';
    input.spellcheck = false;
    input.setAttribute('autocapitalize', 'off');
    label.append(input);
    form.append(label);
    inputs.push([name, input]);
  }
  const submit = doc.createElement('button');
  submit.type = 'submit';
  submit.className = 'gg-login-submit';
  submit.textContent = 'Log in';
  form.append(submit);
  let sent = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (sent) return;
    sent = true;
    const values: Record<string, string> = {};
    for (const [name, input] of inputs) {
      values[name] = input.value;
      input.value = '';
    }
    onSubmit(values);
  });
  return form;
}

/**
 * Answers guacd's prompt: one `argv` stream per name asked, with its value
 * (empty when none was given).
 * @param client - the client guacd asked.
 * @param names - the names of the `required` instruction.
 * @param values - the user's answers.
 */
export function sendCredentials(client: Guacamole.Client, names: readonly string[], values: Readonly<Record<string, string>>): void {
  const encoder = new TextEncoder();
  for (const name of names) {
    const writer = new Guacamole.ArrayBufferWriter(client.createArgumentValueStream('text/plain', name));
    const value = values[name] ?? '';
    if (value !== '') writer.sendData(encoder.encode(value));
    writer.sendEnd();
  }
}
