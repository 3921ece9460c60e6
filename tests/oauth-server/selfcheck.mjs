// End-to-end self check of the test OAuth server (server.mjs), using only
// Node's fetch. Starts the server as a child process; exits non-zero on failure.
//
//   node tests/oauth-server/selfcheck.mjs

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { isDeepStrictEqual } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.join(HERE, 'server.mjs');
const REDIRECT_URI = 'http://127.0.0.1:9/cb';

let passed = 0;
let failed = 0;
const notes = [];

function check(cond, what, extra) {
  if (cond) {
    passed += 1;
    console.log(`ok   ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}${extra === undefined ? '' : ` -- ${typeof extra === 'string' ? extra : JSON.stringify(extra)}`}`);
  }
  return cond;
}

function note(line) {
  notes.push(line);
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// --------------------------------------------------------------------------
// server process
// --------------------------------------------------------------------------

async function startServer(env = {}) {
  const child = spawn(process.execPath, [SERVER], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '0', ...env },
  });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const extraStdout = [];
  const rl = readline.createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not print its ready line in 20s')), 20000);
    child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${Buffer.concat(stderr)}`)));
    rl.once('line', (line) => { clearTimeout(timer); resolve(line); });
  });
  rl.on('line', (line) => extraStdout.push(line));
  const ready = JSON.parse(first);
  return {
    child, ready, stderr, extraStdout, issuer: ready.issuer,
  };
}

// --------------------------------------------------------------------------
// HTTP helpers
// --------------------------------------------------------------------------

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function pkcePair() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

class CookieJar {
  constructor() { this.cookies = new Map(); }

  store(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(a.trim().slice(8)) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function getJson(url) {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function createSession(issuer) {
  const expected = {
    token_requests: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
    token_errors: {},
    token_dropped: {},
    revocations: 0,
  };
  const jar = new CookieJar();

  async function register(meta) {
    return postJson(`${issuer}/reg`, {
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid offline_access api:read api:write',
      require_pkce: false,
      ...meta,
    });
  }

  // Follows the redirect chain manually until Location starts with REDIRECT_URI.
  async function authorize(client, params) {
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      ...params,
    });
    const chain = [];
    let next = url.href;
    for (let i = 0; i < 10; i += 1) {
      const res = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
      jar.store(res);
      const location = res.headers.get('location');
      chain.push(`${res.status} ${new URL(next).pathname}`);
      if (!location) {
        return { chain, error: `no Location (status ${res.status}): ${await res.text()}` };
      }
      const abs = new URL(location, next).href;
      await res.arrayBuffer();
      if (abs.startsWith(REDIRECT_URI)) {
        chain.push(`-> ${REDIRECT_URI}`);
        return { chain, callback: new URL(abs) };
      }
      next = abs;
    }
    return { chain, error: 'too many redirects' };
  }

  async function token(client, params, { auth = 'basic' } = {}) {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams(params);
    if (auth === 'basic') {
      const cred = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`;
      headers.authorization = `Basic ${Buffer.from(cred).toString('base64')}`;
    } else {
      body.set('client_id', client.client_id);
      body.set('client_secret', client.client_secret);
    }
    const started = Date.now();
    const res = await fetch(`${issuer}/token`, { method: 'POST', headers, body });
    const json = await res.json();
    const g = params.grant_type;
    expected.token_requests[g] = (expected.token_requests[g] || 0) + 1;
    if (res.status >= 400) expected.token_errors[g] = (expected.token_errors[g] || 0) + 1;
    return { status: res.status, body: json, ms: Date.now() - started };
  }

  async function revoke(client, tokenValue, hint) {
    const cred = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`;
    const res = await fetch(`${issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(cred).toString('base64')}`,
      },
      body: new URLSearchParams({ token: tokenValue, ...(hint ? { token_type_hint: hint } : {}) }),
    });
    await res.arrayBuffer();
    if (res.status === 200) expected.revocations += 1;
    return res.status;
  }

  async function introspect(client, tokenValue) {
    const cred = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`;
    const res = await fetch(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(cred).toString('base64')}`,
      },
      body: new URLSearchParams({ token: tokenValue }),
    });
    return { status: res.status, body: await res.json() };
  }

  // Full code flow with PKCE; returns the token response body.
  async function codeFlow(client, scope = 'openid offline_access api:read') {
    const { verifier, challenge } = pkcePair();
    const state = b64url(crypto.randomBytes(8));
    const a = await authorize(client, {
      scope, state, code_challenge: challenge, code_challenge_method: 'S256',
    });
    const code = a.callback?.searchParams.get('code');
    if (!code) throw new Error(`authorization failed: ${JSON.stringify(a)}`);
    const t = await token(client, {
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
    });
    if (t.status !== 200) throw new Error(`code exchange failed: ${JSON.stringify(t)}`);
    return t.body;
  }

  return {
    expected, jar, register, authorize, token, revoke, introspect, codeFlow,
  };
}

// --------------------------------------------------------------------------
// the checks
// --------------------------------------------------------------------------

async function main() {
  const srv = await startServer();
  const { issuer } = srv;
  check(/^http:\/\/127\.0\.0\.1:\d+$/.test(issuer) && srv.ready.port === Number(new URL(issuer).port),
    'ready line is {"issuer":"http://127.0.0.1:<port>","port":<port>}', srv.ready);

  const s = createSession(issuer);

  try {
    await run(srv, s);
  } catch (err) {
    check(false, 'unexpected exception', err.stack);
  }

  // stdout carried nothing but the ready line
  check(srv.extraStdout.length === 0, 'nothing else printed on stdout', srv.extraStdout);

  // exits when stdin closes
  const exited = once(srv.child, 'exit');
  srv.child.stdin.end();
  const res = await Promise.race([exited, sleep(5000).then(() => 'timeout')]);
  check(res !== 'timeout', 'server exits when its stdin closes', res);
  if (res === 'timeout') srv.child.kill('SIGKILL');

  if (failed) {
    process.stderr.write(`--- server stderr ---\n${Buffer.concat(srv.stderr)}\n`);
  }
}

async function run(srv, s) {
  const { issuer } = srv;

  // discovery
  const disc = await getJson(`${issuer}/.well-known/openid-configuration`);
  check(disc.status === 200 && disc.body.issuer === issuer, 'discovery document served with matching issuer');
  const d = disc.body;
  note(`discovery: ${issuer}/.well-known/openid-configuration (also /.well-known/oauth-authorization-server? ${
    (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).status})`);
  note(`authorization_endpoint=${d.authorization_endpoint} token_endpoint=${d.token_endpoint}`);
  note(`revocation_endpoint=${d.revocation_endpoint} introspection_endpoint=${d.introspection_endpoint} registration_endpoint=${d.registration_endpoint}`);
  note(`authorization_response_iss_parameter_supported=${d.authorization_response_iss_parameter_supported} code_challenge_methods_supported=${JSON.stringify(d.code_challenge_methods_supported)} scopes_supported=${JSON.stringify(d.scopes_supported)}`);
  check(d.authorization_endpoint === `${issuer}/auth`, 'authorization endpoint is /auth');
  check(d.token_endpoint === `${issuer}/token`, 'token endpoint is /token');
  check(d.revocation_endpoint === `${issuer}/token/revocation`, 'revocation endpoint is /token/revocation');
  check(d.registration_endpoint === `${issuer}/reg`, 'registration endpoint is /reg');
  check(d.authorization_response_iss_parameter_supported === true, 'discovery advertises RFC 9207 iss');

  // dynamic registration
  const reg = await s.register({});
  check(reg.status === 201 && reg.body.client_id && reg.body.client_secret, 'open dynamic client registration returns client_id and client_secret', reg);
  check(reg.body.require_pkce === false, 'require_pkce echoed as client metadata', reg.body.require_pkce);
  const client = reg.body;

  // authorization code flow with PKCE
  const { verifier, challenge } = pkcePair();
  const state = b64url(crypto.randomBytes(8));
  const a = await s.authorize(client, {
    scope: 'openid offline_access api:read', state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  note(`first authorization redirect chain: ${a.chain.join(' ; ')}`);
  note(`cookies held after first flow: ${[...s.jar.cookies.keys()].join(', ')}`);
  const cb = a.callback;
  check(!!cb, 'redirect chain ends at the redirect_uri', a);
  if (!cb) return;
  note(`callback: ${cb.href.replace(/code=[^&]+/, 'code=...')}`);
  check(!!cb.searchParams.get('code'), 'callback carries code');
  check(cb.searchParams.get('state') === state, 'callback carries state');
  check(cb.searchParams.get('iss') === issuer, 'callback carries iss equal to the issuer', cb.searchParams.get('iss'));

  const t1 = await s.token(client, {
    grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: verifier,
  });
  note(`code exchange response keys: ${Object.keys(t1.body).join(',')} scope="${t1.body.scope}" token_type=${t1.body.token_type} expires_in=${t1.body.expires_in}`);
  check(t1.status === 200 && t1.body.access_token && t1.body.refresh_token, 'code exchange (client_secret_basic) returns access and refresh token', t1);
  check(t1.body.expires_in === 3600, 'access token expires_in defaults to 3600', t1.body.expires_in);
  check(!t1.body.access_token.includes('.'), 'access token is opaque');

  // refresh + rotation
  const rt1 = t1.body.refresh_token;
  const r1 = await s.token(client, { grant_type: 'refresh_token', refresh_token: rt1 });
  check(r1.status === 200 && r1.body.refresh_token && r1.body.refresh_token !== rt1, 'refresh returns a new (rotated) refresh token', r1);
  check(r1.body.access_token && r1.body.access_token !== t1.body.access_token, 'refresh returns a new access token');
  note(`refresh response keys: ${Object.keys(r1.body).join(',')} scope="${r1.body.scope}"`);
  const rt2 = r1.body.refresh_token;
  const r2 = await s.token(client, { grant_type: 'refresh_token', refresh_token: rt2 });
  check(r2.status === 200, 'refresh with the newest refresh token works', r2);
  const rt3 = r2.body.refresh_token;
  const old = await s.token(client, { grant_type: 'refresh_token', refresh_token: rt1 });
  check(old.status === 400 && old.body.error === 'invalid_grant', 'old (rotated) refresh token is rejected with invalid_grant', old);
  note(`rotated refresh token -> HTTP ${old.status} ${JSON.stringify(old.body)}`);
  const afterReuse = await s.token(client, { grant_type: 'refresh_token', refresh_token: rt3 });
  note(`newest refresh token after a reuse of an old one -> HTTP ${afterReuse.status} ${JSON.stringify(afterReuse.body)}`);
  check(afterReuse.status === 400 && afterReuse.body.error === 'invalid_grant', 'reuse of a rotated refresh token revokes the whole grant (newest token dead too)', afterReuse);

  // second authorization with the existing session: no interaction needed
  const a2 = await s.authorize(client, {
    scope: 'openid offline_access api:read', state: 'x', ...(() => { const p = pkcePair(); return { code_challenge: p.challenge, code_challenge_method: 'S256' }; })(),
  });
  note(`second authorization (session cookie present, grant revoked by reuse detection) chain: ${a2.chain.join(' ; ')}`);
  check(!!a2.callback?.searchParams.get('code'), 'second authorization with existing session succeeds', a2);

  // without openid (plain OAuth 2.0) and without offline_access: still a refresh token
  const plain = await s.codeFlow(client, 'api:read');
  check(!!plain.refresh_token && !plain.id_token, 'code flow without openid/offline_access still issues a refresh token (no id_token)', plain);
  note(`scope=api:read code flow -> scope="${plain.scope}" keys=${Object.keys(plain).join(',')}`);
  const plainR = await s.token(client, { grant_type: 'refresh_token', refresh_token: plain.refresh_token });
  check(plainR.status === 200 && plainR.body.refresh_token, 'refresh works without openid scope', plainR);

  // authorization code replay: rejected, and the tokens issued from it are revoked
  {
    const p = pkcePair();
    const ar = await s.authorize(client, { scope: 'openid api:read', state: 'r', code_challenge: p.challenge, code_challenge_method: 'S256' });
    const params = {
      grant_type: 'authorization_code', code: ar.callback.searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: p.verifier,
    };
    const first = await s.token(client, params);
    const replay = await s.token(client, params);
    check(first.status === 200 && replay.status === 400 && replay.body.error === 'invalid_grant', 'authorization code cannot be reused', replay);
    const rtAfterReplay = await s.token(client, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    check(rtAfterReplay.status === 400, 'code replay revokes the refresh token issued from that code', rtAfterReplay);
  }

  // client_secret_post + client credentials
  const ccReg = await s.register({
    token_endpoint_auth_method: 'client_secret_post', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'api:read',
  });
  check(ccReg.status === 201, 'register a client_secret_post client_credentials client', ccReg);
  const cc = await s.token(ccReg.body, { grant_type: 'client_credentials', scope: 'api:read' }, { auth: 'post' });
  check(cc.status === 200 && cc.body.access_token && cc.body.expires_in === 3600 && cc.body.scope === 'api:read',
    'client_credentials scope=api:read returns an access token with expires_in and scope', cc);
  check(cc.body.access_token && !cc.body.access_token.includes('.'), 'client_credentials access token is opaque');
  check(!cc.body.refresh_token, 'client_credentials issues no refresh token');
  note(`client_credentials response: ${JSON.stringify({ ...cc.body, access_token: '...' })}`);
  const ccBad = await s.token(ccReg.body, { grant_type: 'client_credentials', scope: 'api:write' }, { auth: 'post' });
  note(`client_credentials with unregistered scope api:write -> HTTP ${ccBad.status} ${JSON.stringify(ccBad.body)}`);
  check(ccBad.status === 400 && ccBad.body.error === 'invalid_scope', 'client_credentials for a scope the client lacks -> invalid_scope');
  const cc2 = await s.token(client, { grant_type: 'client_credentials', scope: 'api:read api:write' });
  check(cc2.status === 200 && cc2.body.scope === 'api:read api:write', 'client_credentials with client_secret_basic works', cc2);

  // introspection + revocation
  const intro = await s.introspect(ccReg.body, cc.body.access_token);
  check(intro.status === 200 && intro.body.active === true, 'introspection reports the client_credentials token active', intro);
  const rv = await s.revoke(ccReg.body, cc.body.access_token);
  check(rv === 200, 'revocation of an access token returns 200');
  const intro2 = await s.introspect(ccReg.body, cc.body.access_token);
  check(intro2.body.active === false, 'revoked access token is inactive');
  const fresh = await s.codeFlow(client);
  const rv2 = await s.revoke(client, fresh.refresh_token, 'refresh_token');
  check(rv2 === 200, 'revocation of a refresh token returns 200');
  const afterRv = await s.token(client, { grant_type: 'refresh_token', refresh_token: fresh.refresh_token });
  check(afterRv.status === 400 && afterRv.body.error === 'invalid_grant', 'revoked refresh token -> invalid_grant', afterRv);
  note(`revoked refresh token -> HTTP ${afterRv.status} ${JSON.stringify(afterRv.body)}`);

  // /_test/revoke-all
  const beforeAll = await s.codeFlow(client);
  const rtCount = await getJson(`${issuer}/_test/refresh-tokens`);
  check(rtCount.body.unconsumed >= 1, '/_test/refresh-tokens counts unconsumed refresh tokens', rtCount.body);
  const all = await postJson(`${issuer}/_test/revoke-all`, {});
  check(all.status === 200 && all.body.revoked > 0, '/_test/revoke-all revokes something', all.body);
  const afterAll = await s.token(client, { grant_type: 'refresh_token', refresh_token: beforeAll.refresh_token });
  check(afterAll.status === 400 && afterAll.body.error === 'invalid_grant', 'refresh after revoke-all -> invalid_grant', afterAll);
  note(`refresh after /_test/revoke-all -> HTTP ${afterAll.status} ${JSON.stringify(afterAll.body)}`);
  const rtCount0 = await getJson(`${issuer}/_test/refresh-tokens`);
  check(rtCount0.body.unconsumed === 0, 'no refresh tokens left after revoke-all', rtCount0.body);
  const aa = await s.introspect(client, beforeAll.access_token);
  check(aa.body.active === false, 'access tokens revoked by revoke-all', aa.body);

  // token delay: a request whose sender dies during the delay is dropped unprocessed
  const delayed = await s.codeFlow(client);
  const cnt1 = (await getJson(`${issuer}/_test/refresh-tokens`)).body.unconsumed;
  check(cnt1 === 1, 'exactly one unconsumed refresh token before the delay test', cnt1);
  const set = await postJson(`${issuer}/_test/token-delay`, { ms: 1500 });
  check(set.status === 200 && set.body.ms === 1500, '/_test/token-delay sets the delay', set);
  const before = (await getJson(`${issuer}/_test/stats`)).body.token_requests.refresh_token;
  const victim = spawn(process.execPath, ['-e', `
    fetch(${JSON.stringify(`${issuer}/token`)}, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded',
                 authorization: ${JSON.stringify(`Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`)} },
      body: ${JSON.stringify(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: delayed.refresh_token }).toString())},
    }).then(() => console.log('completed'));
    setInterval(() => {}, 1000);
  `], { stdio: 'ignore' });
  let seen = false;
  for (let i = 0; i < 100 && !seen; i += 1) {
    await sleep(20);
    seen = (await getJson(`${issuer}/_test/stats`)).body.token_requests.refresh_token === before + 1;
  }
  check(seen, 'delayed refresh request from the child reached the server');
  victim.kill('SIGKILL');
  await once(victim, 'exit');
  await sleep(2000);
  const st = (await getJson(`${issuer}/_test/stats`)).body;
  check(st.token_dropped.refresh_token === 1, 'request of the killed client was dropped after the delay', st);
  s.expected.token_requests.refresh_token += 1;
  s.expected.token_dropped.refresh_token = 1;
  const cnt2 = (await getJson(`${issuer}/_test/refresh-tokens`)).body.unconsumed;
  check(cnt2 === 1, 'the dropped request did not consume the refresh token', cnt2);
  const slow = await s.token(client, { grant_type: 'refresh_token', refresh_token: delayed.refresh_token });
  check(slow.status === 200 && slow.ms >= 1450, `delayed refresh succeeds after the delay (${slow.ms} ms)`, slow);
  await postJson(`${issuer}/_test/token-delay`, { ms: 0 });
  const quick = await s.token(client, { grant_type: 'refresh_token', refresh_token: slow.body.refresh_token });
  check(quick.status === 200 && quick.ms < 1000, `delay off again (${quick.ms} ms)`, quick);
  const badDelay = await postJson(`${issuer}/_test/token-delay`, { ms: -1 });
  check(badDelay.status === 400, '/_test/token-delay rejects a bad value');

  // PKCE policies
  const strict = (await s.register({ require_pkce: true })).body;
  check(strict.require_pkce === true, 'register a require_pkce=true client');
  const noPkce = await s.authorize(strict, { scope: 'openid api:read', state: 'st' });
  const errCb = noPkce.callback;
  check(errCb?.searchParams.get('error') === 'invalid_request', 'require_pkce=true: request without code_challenge -> error=invalid_request at redirect_uri', noPkce);
  note(`missing PKCE (require_pkce=true) chain: ${noPkce.chain.join(' ; ')}`);
  note(`missing PKCE callback params: ${errCb && JSON.stringify(Object.fromEntries(errCb.searchParams))}`);
  const plainChallenge = await s.authorize(strict, { scope: 'openid', state: 'st', code_challenge: pkcePair().challenge, code_challenge_method: 'plain' });
  check(plainChallenge.callback?.searchParams.get('error') === 'invalid_request', 'code_challenge_method=plain is refused', plainChallenge);
  const strictOk = await s.codeFlow(strict);
  check(!!strictOk.access_token, 'require_pkce=true client with S256 succeeds');

  const lax = await s.authorize(client, { scope: 'openid api:read', state: 'st' });
  const laxCode = lax.callback?.searchParams.get('code');
  check(!!laxCode, 'require_pkce=false: request without PKCE is accepted', lax);
  const laxT = await s.token(client, { grant_type: 'authorization_code', code: laxCode, redirect_uri: REDIRECT_URI });
  check(laxT.status === 200, 'require_pkce=false: exchange without code_verifier works', laxT);
  const p = pkcePair();
  const wrong = await s.authorize(client, { scope: 'openid', state: 'st', code_challenge: p.challenge, code_challenge_method: 'S256' });
  const wrongT = await s.token(client, {
    grant_type: 'authorization_code', code: wrong.callback.searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: pkcePair().verifier,
  });
  check(wrongT.status === 400 && wrongT.body.error === 'invalid_grant', 'require_pkce=false: PKCE still verified when sent (wrong verifier -> invalid_grant)', wrongT);
  note(`wrong code_verifier -> HTTP ${wrongT.status} ${JSON.stringify(wrongT.body)}`);

  // failed client authentication is counted too
  const badAuth = await s.token({ client_id: client.client_id, client_secret: 'nope' }, { grant_type: 'refresh_token', refresh_token: 'x' });
  check(badAuth.status === 401 && badAuth.body.error === 'invalid_client', 'bad client secret -> 401 invalid_client', badAuth);

  // stats
  const stats = (await getJson(`${issuer}/_test/stats`)).body;
  check(isDeepStrictEqual(stats, s.expected), '/_test/stats counts every token request by grant type (errors and drops too)', { stats, expected: s.expected });
  note(`final stats: ${JSON.stringify(stats)}`);
  const rs = await postJson(`${issuer}/_test/reset-stats`, {});
  check(rs.status === 200 && rs.body.token_requests.refresh_token === 0 && rs.body.revocations === 0, '/_test/reset-stats zeroes the counters', rs.body);

  // second instance: ACCESS_TOKEN_TTL and SIGTERM
  const srv2 = await startServer({ ACCESS_TOKEN_TTL: '5' });
  try {
    const s2 = createSession(srv2.issuer);
    const c2 = (await s2.register({})).body;
    const t = await s2.token(c2, { grant_type: 'client_credentials', scope: 'api:read' });
    check(t.body.expires_in === 5, 'ACCESS_TOKEN_TTL=5 gives expires_in 5', t.body);
    const code2 = await s2.codeFlow(c2);
    check(code2.expires_in === 5, 'ACCESS_TOKEN_TTL applies to code-flow access tokens', code2.expires_in);
  } finally {
    const ex = once(srv2.child, 'exit');
    srv2.child.kill('SIGTERM');
    const r = await Promise.race([ex, sleep(5000).then(() => 'timeout')]);
    check(r !== 'timeout', 'server exits on SIGTERM (stdin still open)');
    if (r === 'timeout') srv2.child.kill('SIGKILL');
  }
}

await main();
console.log('\nobservations:');
for (const n of notes) console.log(`  ${n}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
