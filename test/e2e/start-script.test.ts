/**
 * The README's first command ends in `npm start` (scripts/start.sh): it must
 * register the demo targets, serve the page and print links that open a
 * working session. Here it runs as a newcomer would run it (minus the build,
 * which `npm test` has just done: rebuilding dist/ under running tests would
 * pull files from under them), and Chromium follows the printed SSH link.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { displayVariety, launchBrowser, waitForPageState, type TestBrowser } from '../helpers/browser.js';

loadTestEnv(); // the demo targets are the test environment's, already up

describe('npm start (scripts/start.sh)', { timeout: 180_000 }, () => {
  let dataDir: string;
  let output = '';
  let child: ReturnType<typeof spawn>;
  let exited: Promise<number | null>;
  let browser: TestBrowser;
  const marker = `/tmp/gg-start-${randomBytes(6).toString('hex')}`;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gg-start-'));
    child = spawn('bash', ['scripts/start.sh', '--port', '0'], {
      cwd: repoRoot(),
      env: { ...process.env, GATEWAY_DATA_DIR: dataDir, GATEWAY_SECRET: '', GATEWAY_SKIP_BUILD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, signalled as Ctrl-C would be
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((ok) => child.once('exit', (code) => ok(code)));
    browser = await launchBrowser();
  });

  after(async () => {
    if (child.exitCode === null) {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    await browser?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(marker, { force: true });
  });

  test('prints a link per demo target; the SSH link opens a shell that runs typed commands; Ctrl-C stops it', async () => {
    const links = await waitFor(() => {
      const found = new Map([...output.matchAll(/^\s+(demo-\w+)\s+(http:\/\/\S+\?token=\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
      return found.size === 4 ? found : undefined;
    }, { what: `four demo links in the output of npm start:\n${output}`, timeoutMs: 60_000 });
    assert.deepEqual([...links.keys()].sort(), ['demo-rdp', 'demo-ssh', 'demo-telnet', 'demo-vnc']);
    // No password on the output, only tokens.
    assert.doesNotMatch(output, new RegExp(loadTestEnv().user.password));

    const page = await browser.newPage();
    await page.goto(links.get('demo-ssh')!);
    // Up to a minute: the suite runs beside this, and SFTP makes guacd 1.3.0 log in twice before the first frame.
    await waitForPageState(page, ['connected'], 60_000).catch(async (err: Error) => {
      const sshd = await readFile(join(repoRoot(), '.test-env', 'sshd.log'), 'utf8').catch(() => '');
      throw new Error(`${err.message}\nnpm start printed:\n${output}\nsshd's log ends:\n${sshd.split('\n').slice(-15).join('\n')}`, { cause: err });
    });
    await waitFor(async () => (await displayVariety(page)).colours >= 2, { what: 'the terminal to draw', timeoutMs: 15_000 });
    await page.keyboard.type(`echo started-by-npm-start > ${marker}`);
    await page.keyboard.press('Enter');
    const content = await waitFor(() => readFile(marker, 'utf8').catch(() => undefined), { what: 'the file the shell writes' });
    assert.equal(content.trim(), 'started-by-npm-start');
    // The SSH demo has SFTP on: its page offers the Files panel.
    assert.ok(await page.getByRole('button', { name: 'Files' }).isVisible(), 'the demo SSH page shows Files');
    await page.close();

    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0, output);
    assert.match(output, /guacamole-gateway stopped/);
  });
});
