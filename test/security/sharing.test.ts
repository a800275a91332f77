/**
 * Share links, with the real guacd (every version of the matrix) and sshd:
 * an owner's live SSH session is shared through the registry
 * (src/registry/shares.ts). A watcher (read-only link) receives the owner's
 * frames and its typing reaches nothing; a full-control link types and the
 * command runs; revoking ends the watcher with CLIENT_FORBIDDEN "The share
 * link was revoked."; expired, used-up (`once`), tampered, forged and
 * unknown links are refused with their documented status, as is a link to
 * a session that has ended; a read-only participant (or a read-only grant)
 * cannot hand out full control; each join is a history row tied to the
 * session it joined.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import { registryResolver, registrySessionHooks } from '../../src/registry/resolver.js';
import type { HistoryEntry, Registry } from '../../src/registry/types.js';
import { joinNotices } from '../../src/server/join-notices.js';
import { sealToken } from '../../src/tunnel/token.js';
import { waitFor } from '../helpers/env.js';
import { forEachGuacd } from '../helpers/guacd-matrix.js';
import { rejectsWith, sqliteFixture, type RegistryFixture } from '../helpers/registry.js';
import { Cleanups, clientFor, expectClosedWith, markerPath, openSession, realGuacd, runInShell, shellReady, sshParams, typeText, useOwnGuacd } from '../helpers/security.js';
import { startTestGateway, type TestGateway, type TunnelClient } from '../helpers/ws-client.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());
const now = () => Math.floor(Date.now() / 1000);

forEachGuacd((version) => describe('sharing a live session', { timeout: 180_000 }, () => {
  useOwnGuacd(version);
  let fx: RegistryFixture;
  let reg: Registry;
  let g: TestGateway;
  let unsubscribe: () => void = () => undefined;

  before(async () => {
    fx = await sqliteFixture();
    reg = await fx.open();
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    await reg.grant('ssh', 'alice');
    await reg.grant('ssh', 'bob', { readOnly: true });
    const hooks = registrySessionHooks(reg);
    // As the server does (gateway.ts): history, and join notices where guacd sends none.
    const notices = joinNotices(() => g.tunnel.sessions.values());
    g = await startTestGateway({
      guacd: realGuacd(),
      resolve: registryResolver(reg, fx.secret),
      onSessionStart: (info) => { notices.joined(info); return hooks.onSessionStart(info); },
      onSessionEnd: (record) => { notices.left(record); return hooks.onSessionEnd(record); },
    });
    // As the server does (gateway.ts): requests to end a session close it here.
    unsubscribe = await reg.onSessionEndRequest((id, status, message) => g.tunnel.sessions.get(id)?.close(status, message));
  });
  after(async () => {
    unsubscribe();
    await g?.close();
    await reg?.close();
    await fx?.cleanup();
  });

  const q = (token: string, name?: string) => `token=${encodeURIComponent(token)}${name ? `&name=${encodeURIComponent(name)}` : ''}`;

  /** A live session of `user` on `ssh` whose history row knows guacd's connection id. */
  async function owner(user = 'alice'): Promise<TunnelClient> {
    const c = await openSession(cleanups, g, q((await reg.mintToken({ connection: 'ssh', user })).token));
    await waitFor(async () => (await reg.getSession(c.uuid as string))?.guacdId, { what: 'the owner\'s history row', timeoutMs: 10_000 });
    return c;
  }

  async function refused(token: string, status: StatusInfo, what: string): Promise<string | undefined> {
    const c = await clientFor(cleanups, g, q(token));
    const { message } = await expectClosedWith(c, status, { timeoutMs: 15_000 }).catch((err: unknown) => assert.fail(`${what}: ${String(err)}`));
    return message;
  }

  const row = (c: TunnelClient): Promise<HistoryEntry> =>
    waitFor(() => reg.getSession(c.uuid as string), { what: 'a history row', timeoutMs: 10_000 });

  it('a watcher receives the owner\'s frames and its keys do nothing; a full-control link types; revoking ends the watcher', async () => {
    const own = await owner();
    await shellReady(cleanups, own);
    const watch = await reg.createShare({ session: own.uuid as string, readOnly: true, creator: 'alice' });
    const watcher = await openSession(cleanups, g, q(watch.token, 'Wendy Watcher'));

    // The owner types; the watcher's display is drawn with it.
    const seen = watcher.received.length;
    const ownMarker = markerPath(cleanups, 'share-owner');
    await runInShell(own, `echo owner-typed > ${ownMarker}`, ownMarker);
    await watcher.waitFor((r) => ['img', 'png', 'blob', 'copy', 'rect'].includes(r.opcode), 10_000, 'a drawing instruction after the owner typed', seen);

    // The watcher types a command; the owner's next command proves the shell read everything before it.
    const watcherMarker = markerPath(cleanups, 'share-watcher');
    typeText(watcher, `touch ${watcherMarker}\n`);
    watcher.send('nop');
    await watcher.waitForOpcode('sync', 10_000, watcher.received.length);
    const after = markerPath(cleanups, 'share-after');
    await runInShell(own, `touch ${after}`, after);
    assert.equal(existsSync(watcherMarker), false, 'the watcher\'s keys reached the shell');

    // Full control: its typing runs.
    const control = await reg.createShare({ session: own.uuid as string, readOnly: false });
    const ctl = await openSession(cleanups, g, q(control.token, 'Carl Control'));
    const ctlMarker = markerPath(cleanups, 'share-control');
    await runInShell(ctl, `touch ${ctlMarker}`, ctlMarker);

    // History: each join is a row tied to the owner's session, watching or in control.
    const w = await row(watcher);
    assert.deepEqual([w.joinedSession, w.shareId, w.readOnly, w.user], [own.uuid, watch.id, true, 'Wendy Watcher (guest)']);
    const c = await row(ctl);
    assert.deepEqual([c.joinedSession, c.shareId, c.readOnly, c.user], [own.uuid, control.id, false, 'Carl Control (guest)']);
    assert.deepEqual([(await row(own)).joinedSession, (await row(own)).readOnly], [null, false]);
    assert.deepEqual((await reg.listShares(own.uuid as string)).map((s) => s.id).sort(), [watch.id, control.id].sort());

    // Revoking ends the sessions opened through that link only, and refuses it from now on.
    assert.equal(await reg.revokeShare(watch.id), true);
    const { message } = await expectClosedWith(watcher, STATUS.CLIENT_FORBIDDEN, { timeoutMs: 15_000 });
    assert.equal(message, 'The share link was revoked.');
    const ended = await waitFor(async () => ((await row(watcher)).endedAt !== null ? row(watcher) : undefined), { what: 'the watcher\'s end in history' });
    assert.equal(ended.status, STATUS.CLIENT_FORBIDDEN.guac);
    assert.ok(ended.bytesToBrowser > 0, 'the watcher\'s bytes are recorded');
    assert.equal(ctl.ws.readyState, ctl.ws.OPEN, 'revoking one link ended another');
    assert.equal(own.ws.readyState, own.ws.OPEN, 'revoking a link ended the owner');
    assert.equal(await refused(watch.token, STATUS.CLIENT_FORBIDDEN, 'revoked'), 'The share link was revoked.');
    assert.equal((await reg.getShare(watch.id))?.revokedAt !== null, true);
    assert.equal(await reg.revokeShare(randomUUID()), false);
  });

  it('refuses expired, used-up, tampered, forged and unknown links, and links to an ended session', async () => {
    const own = await owner();
    const sid = own.uuid as string;
    const share = await reg.createShare({ session: sid, readOnly: true });
    const seal = (claims: Record<string, unknown>, secret = fx.secret) =>
      sealToken({ aud: 'share', exp: now() + 60, jti: share.id, session: sid, readOnly: true, ...claims }, secret);

    assert.equal(await refused(seal({ iat: now() - 120, exp: now() - 1 }), STATUS.CLIENT_TIMEOUT, 'expired'), 'The access token has expired.');
    const i = Math.floor(share.token.length / 2);
    const tampered = share.token.slice(0, i) + (share.token[i] === 'A' ? 'B' : 'A') + share.token.slice(i + 1);
    assert.equal(await refused(tampered, STATUS.CLIENT_UNAUTHORIZED, 'tampered'), 'The access token is invalid.');
    assert.equal(await refused(seal({}, `forged-${randomBytes(16).toString('hex')}`), STATUS.CLIENT_UNAUTHORIZED, 'another secret'), 'The access token is invalid.');
    // Even a genuine secret does not let a made-up share id, or a real one moved to another session, in.
    assert.equal(await refused(seal({ jti: randomUUID() }), STATUS.RESOURCE_NOT_FOUND, 'unknown share'), 'The share link does not exist.');
    assert.equal(await refused(seal({ session: randomUUID() }), STATUS.RESOURCE_NOT_FOUND, 'another session'), 'The share link does not exist.');
    // A full-control claim on a read-only share's row stays read-only (the row decides), and the ordinary resolver refuses the audience.
    const upgraded = await openSession(cleanups, g, q(seal({ readOnly: false })));
    assert.equal([...g.tunnel.sessions.values()].find((s) => s.info.id === upgraded.uuid)?.info.readOnly, true);
    upgraded.close();

    const once = await reg.createShare({ session: sid, readOnly: true, once: true });
    const first = await openSession(cleanups, g, q(once.token));
    assert.equal(await refused(once.token, STATUS.RESOURCE_CONFLICT, 'used up'), 'The single-use share link was already used.');
    assert.equal(first.ws.readyState, first.ws.OPEN);
    first.close();

    // The owner leaves: the session has ended, its links are refused and no new one is made.
    own.close();
    await waitFor(async () => (await reg.getSession(sid))?.endedAt ?? undefined, { what: 'the owner\'s end in history' });
    assert.equal(await refused(share.token, STATUS.RESOURCE_CLOSED, 'ended session'), 'The shared session has ended.');
    await rejectsWith(reg.createShare({ session: sid, readOnly: true }), 'GUAC_SESSION_ENDED', STATUS.RESOURCE_CONFLICT.guac);
    await rejectsWith(reg.createShare({ session: randomUUID() }), 'GUAC_SESSION_NOT_FOUND', STATUS.RESOURCE_NOT_FOUND.guac);
  });

  it('when the owner leaves, the participants end too (RESOURCE_CLOSED), and later sessions are not touched', async () => {
    const own = await owner();
    await shellReady(cleanups, own);
    const watcher = await openSession(cleanups, g, q((await reg.createShare({ session: own.uuid as string, readOnly: true })).token));
    const ctl = await openSession(cleanups, g, q((await reg.createShare({ session: own.uuid as string })).token));
    await row(ctl);
    const other = await owner();
    own.close();
    for (const c of [watcher, ctl]) {
      const { message } = await expectClosedWith(c, STATUS.RESOURCE_CLOSED, { timeoutMs: 15_000 });
      assert.equal(message, 'The owner left the shared session.');
    }
    assert.equal(other.ws.readyState, other.ws.OPEN, 'another owner\'s session ended');
  });

  it('the owner hears of each join and leave once, with the name (guacd 1.5+ itself, the gateway for 1.3)', async () => {
    const own = await owner();
    const watcher = await openSession(cleanups, g, q((await reg.createShare({ session: own.uuid as string, readOnly: true })).token, 'Wendy Watcher'));
    const notices = (id: string) => own.instructions.filter((r) => r.opcode === 'msg' && r.args[0] === id);
    await own.waitFor((r) => r.opcode === 'msg' && r.args[0] === '1', 10_000, 'the join notice');
    watcher.close();
    await own.waitFor((r) => r.opcode === 'msg' && r.args[0] === '2', 10_000, 'the leave notice');
    assert.deepEqual(notices('1').map((r) => r.args.at(-1)), ['Wendy Watcher (guest)'], 'one join notice, with the name');
    assert.deepEqual(notices('2').map((r) => r.args.at(-1)), ['Wendy Watcher (guest)'], 'one leave notice, with the name');
    assert.equal(watcher.instructions.filter((r) => r.opcode === 'msg').length, 0, 'the watcher was told of itself');
  });

  it('a share never gives more than its session has: read-only participants and read-only grants hand out watching only', async () => {
    const own = await owner();
    const watch = await reg.createShare({ session: own.uuid as string, readOnly: true });
    const watcher = await openSession(cleanups, g, q(watch.token));
    await row(watcher);
    await rejectsWith(reg.createShare({ session: watcher.uuid as string, readOnly: false }), 'GUAC_SHARE_FORBIDDEN', STATUS.CLIENT_FORBIDDEN.guac);
    // What a participant may hand out joins the owner's session.
    const again = await reg.createShare({ session: watcher.uuid as string, readOnly: true });
    assert.equal(again.sessionId, own.uuid);

    const bob = await owner('bob');
    await rejectsWith(reg.createShare({ session: bob.uuid as string }), 'GUAC_SHARE_FORBIDDEN', STATUS.CLIENT_FORBIDDEN.guac);
    assert.equal((await reg.createShare({ session: bob.uuid as string, readOnly: true })).readOnly, true);
    await rejectsWith(reg.createShare({ session: own.uuid as string, ttlSeconds: 0 }), 'GUAC_TTL_INVALID', STATUS.CLIENT_BAD_REQUEST.guac);
    await rejectsWith(reg.createShare({ session: own.uuid as string, readOnly: 'yes' as unknown as boolean }), 'GUAC_REQUEST_INVALID', STATUS.CLIENT_BAD_REQUEST.guac);
  });
}));
