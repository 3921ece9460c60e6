// Loopback OAuth 2.0 authorization server used as a test fixture by Keyway's
// Rust test suite. See README.md in this directory.
//
//   node tests/oauth-server/server.mjs
//
// Env: PORT (default 0 = any free port), ACCESS_TOKEN_TTL seconds (default 3600).
// Prints exactly one JSON line to stdout once listening:
//   {"issuer":"http://127.0.0.1:<port>","port":<port>}
// Everything else goes to stderr. Exits when stdin closes and on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints notices with console.info (stdout). Stdout is reserved
// for the single ready line, so route every console output to stderr.
for (const m of ['log', 'info', 'debug']) {
  // eslint-disable-next-line no-console
  console[m] = (...args) => console.error(...args);
}

const { default: Provider } = await import('oidc-provider');

const HOST = '127.0.0.1';
const PORT = parsePort(process.env.PORT);
const ACCESS_TOKEN_TTL = parsePositiveInt(process.env.ACCESS_TOKEN_TTL, 3600, 'ACCESS_TOKEN_TTL');
const ACCOUNT_ID = 'test-user';
const API_SCOPES = ['api:read', 'api:write'];

function parsePort(value) {
  if (value === undefined || value === '') return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fatal(`invalid PORT: ${value}`);
  return n;
}

function parsePositiveInt(value, dflt, name) {
  if (value === undefined || value === '') return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) fatal(`invalid ${name}: ${value}`);
  return n;
}

function fatal(msg) {
  process.stderr.write(`oauth-server: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// In-process storage adapter (one shared Map for every model) so the /_test/
// endpoints can inspect and change everything.
// ---------------------------------------------------------------------------

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt (ms) | undefined }
const grantIndex = new Map(); // grantId -> Set of store keys
const userCodeIndex = new Map(); // userCode -> store key
const uidIndex = new Map(); // uid -> store key

const nowSec = () => Math.floor(Date.now() / 1000);

function liveEntry(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    deleteKey(key);
    return undefined;
  }
  return entry;
}

function deleteKey(key) {
  const entry = store.get(key);
  if (!entry) return false;
  store.delete(key);
  const { grantId, userCode, uid } = entry.payload;
  if (grantId) grantIndex.get(grantId)?.delete(key);
  if (userCode && userCodeIndex.get(userCode) === key) userCodeIndex.delete(userCode);
  if (uid && uidIndex.get(uid) === key) uidIndex.delete(uid);
  return true;
}

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, {
      payload: structuredClone(payload),
      expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined,
    });
    const { grantId, userCode, uid } = payload;
    if (grantId) {
      if (!grantIndex.has(grantId)) grantIndex.set(grantId, new Set());
      grantIndex.get(grantId).add(key);
    }
    if (userCode) userCodeIndex.set(userCode, key);
    if (uid) uidIndex.set(uid, key);
  }

  async find(id) {
    const entry = liveEntry(this.key(id));
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUserCode(userCode) {
    const key = userCodeIndex.get(userCode);
    const entry = key && liveEntry(key);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUid(uid) {
    const key = uidIndex.get(uid);
    const entry = key && liveEntry(key);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async consume(id) {
    const entry = liveEntry(this.key(id));
    if (entry) entry.payload.consumed = nowSec();
  }

  async destroy(id) {
    deleteKey(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const keys = grantIndex.get(grantId);
    if (!keys) return;
    for (const key of [...keys]) deleteKey(key);
    grantIndex.delete(grantId);
  }
}

// Models that carry authorization: removed by POST /_test/revoke-all.
const REVOCABLE_MODELS = ['Grant', 'RefreshToken', 'AccessToken', 'ClientCredentials', 'AuthorizationCode'];

function revokeAll() {
  let n = 0;
  for (const key of [...store.keys()]) {
    const model = key.slice(0, key.indexOf(':'));
    if (REVOCABLE_MODELS.includes(model) && deleteKey(key)) n += 1;
  }
  grantIndex.clear();
  return n;
}

function countUnconsumedRefreshTokens() {
  let n = 0;
  for (const key of [...store.keys()]) {
    if (!key.startsWith('RefreshToken:')) continue;
    const entry = liveEntry(key);
    if (entry && !entry.payload.consumed) n += 1;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Provider configuration
// ---------------------------------------------------------------------------

function signingJwks() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: 'test-rs256', use: 'sig', alg: 'RS256' }] };
}

const configuration = {
  adapter: MemoryAdapter,
  jwks: signingJwks(),
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // api:* are plain "static" scopes here, so they work for the authorization
  // code flow and for client_credentials without any `resource` parameter.
  scopes: ['openid', 'offline_access', ...API_SCOPES],
  claims: { openid: ['sub'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  extraClientMetadata: {
    properties: ['require_pkce'],
    validator(ctx, key, value, metadata) {
      if (key !== 'require_pkce') return;
      if (value === undefined || value === null) {
        metadata.require_pkce = false;
      } else if (typeof value !== 'boolean') {
        throw new Provider.errors.InvalidClientMetadata('require_pkce must be a boolean');
      }
    },
  },
  pkce: {
    methods: ['S256'],
    required: (ctx, client) => client.require_pkce === true,
  },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: { enabled: false },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Issue a refresh token whenever the client may use the refresh_token grant,
  // whether or not offline_access was requested/granted.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Interaction: 3600,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
};

// ---------------------------------------------------------------------------
// HTTP server: test endpoints, interactions, token endpoint wrapper, provider
// ---------------------------------------------------------------------------

const server = http.createServer();
let provider;
let providerCallback;

const stats = newStats();
let tokenDelayMs = 0;

function newStats() {
  return {
    token_requests: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
    token_errors: {},
    token_dropped: {},
    revocations: 0,
  };
}

function resetStats() {
  Object.assign(stats, newStats());
}

const inc = (obj, key) => { obj[key] = (obj[key] || 0) + 1; };

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

async function handleTestEndpoint(req, res, path) {
  if (req.method === 'GET' && path === '/_test/stats') {
    return sendJson(res, 200, stats);
  }
  if (req.method === 'POST' && path === '/_test/reset-stats') {
    await readBody(req);
    resetStats();
    return sendJson(res, 200, stats);
  }
  if (req.method === 'POST' && path === '/_test/revoke-all') {
    await readBody(req);
    return sendJson(res, 200, { revoked: revokeAll() });
  }
  if (req.method === 'GET' && path === '/_test/refresh-tokens') {
    return sendJson(res, 200, { unconsumed: countUnconsumedRefreshTokens() });
  }
  if (req.method === 'POST' && path === '/_test/token-delay') {
    const raw = (await readBody(req)).toString();
    let ms;
    try {
      ({ ms } = JSON.parse(raw || '{}'));
    } catch {
      return sendJson(res, 400, { error: 'body must be JSON {"ms": <non-negative integer>}' });
    }
    if (!Number.isInteger(ms) || ms < 0) {
      return sendJson(res, 400, { error: 'body must be JSON {"ms": <non-negative integer>}' });
    }
    tokenDelayMs = ms;
    return sendJson(res, 200, { ms });
  }
  return sendJson(res, 404, { error: 'unknown test endpoint' });
}

// Automatic login (as "test-user") and consent (everything requested).
async function handleInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt: { name, details: promptDetails }, params, session } = details;

  if (name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT_ID } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }

  if (name === 'consent') {
    let { grantId } = details;
    let grant;
    if (grantId) {
      grant = await provider.Grant.find(grantId);
    }
    if (!grant) {
      grantId = undefined;
      grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    }
    if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
    if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
    if (promptDetails.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const savedId = await grant.save();
    const consent = {};
    if (!grantId) consent.grantId = savedId;
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }

  await provider.interactionFinished(req, res, {
    error: 'access_denied',
    error_description: `unsupported prompt ${name}`,
  }, { mergeWithLastSubmission: false });
}

// Every POST to the token endpoint is counted by grant_type (failed and
// dropped ones included), optionally delayed, and dropped unprocessed if the
// client went away during the delay.
async function handleToken(req, res) {
  let clientGone = false;
  res.on('close', () => { if (!res.writableFinished) clientGone = true; });

  let body;
  try {
    body = await readBody(req);
  } catch {
    res.destroy();
    return;
  }
  const grantType = new URLSearchParams(body.toString('latin1')).get('grant_type') || '(none)';
  inc(stats.token_requests, grantType);

  if (tokenDelayMs > 0) {
    await sleep(tokenDelayMs);
    if (clientGone || req.socket.destroyed) {
      inc(stats.token_dropped, grantType);
      process.stderr.write(`oauth-server: dropped ${grantType} token request (client went away)\n`);
      res.destroy();
      return;
    }
  }

  res.on('finish', () => {
    if (res.statusCode >= 400) inc(stats.token_errors, grantType);
  });
  // oidc-provider uses an already-read body from req.body.
  req.body = body;
  providerCallback(req, res);
}

server.on('request', (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  (async () => {
    if (path.startsWith('/_test/')) {
      await handleTestEndpoint(req, res, path);
    } else if (path.startsWith('/interaction/') && req.method === 'GET') {
      await handleInteraction(req, res);
    } else if (path === '/token' && req.method === 'POST') {
      await handleToken(req, res);
    } else {
      if (path === '/token/revocation' && req.method === 'POST') {
        res.on('finish', () => { if (res.statusCode === 200) stats.revocations += 1; });
      }
      providerCallback(req, res);
    }
  })().catch((err) => {
    process.stderr.write(`oauth-server: ${req.method} ${path}: ${err?.stack || err}\n`);
    if (!res.headersSent) {
      sendJson(res, 500, { error: 'server_error', error_description: String(err?.message || err) });
    } else {
      res.destroy();
    }
  });
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`oauth-server: server_error: ${err?.stack || err}\n`);
  });
  // Log why OAuth requests failed (error_detail is not sent to clients).
  for (const event of ['grant.error', 'authorization.error', 'revocation.error', 'introspection.error', 'registration_create.error']) {
    provider.on(event, (ctx, err) => {
      process.stderr.write(`oauth-server: ${event}: ${err.error || err.name}: ${err.error_detail || err.error_description || err.message}\n`);
    });
  }
  providerCallback = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

function shutdown(why) {
  process.stderr.write(`oauth-server: exiting (${why})\n`);
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (process.env.OAUTH_SERVER_IGNORE_STDIN !== '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
