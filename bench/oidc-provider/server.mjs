// The node-oidc-provider baseline of bench/run.py: a client_credentials client issuing RS256 JWT
// access tokens for a resource (resource indicators), and /me (userinfo) served with an access
// token of one seeded account. WORKERS processes (node:cluster) on PORT, as idbroker runs
// `--workers N`. The primary makes the signing key, the grant and the userinfo access token
// once and hands them to every worker, so any worker accepts the token and signs with the key.
//
// Env: PORT, WORKERS (2), CLIENT_ID, CLIENT_SECRET. Prints `BENCH_READY {"userinfo_token": …}`
// on stdout when every worker listens.
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 3000);
const WORKERS = Number(process.env.WORKERS || 2);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'urn:bench:api';
const ACCOUNT = 'bench-user-1';

// A plain in-memory adapter whose contents can be copied to the workers.
const store = new Map();
class Adapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) { store.set(this.key(id), payload); }
  async find(id) { return store.get(this.key(id)); }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = store.get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId() {}
}

function provider(jwk) {
  return new Provider(ISSUER, {
    adapter: Adapter,
    clients: [{
      client_id: process.env.CLIENT_ID || 'bench',
      client_secret: process.env.CLIENT_SECRET || 'bench-secret-bench-secret-bench-secret',
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: ['bench-cookie-key-not-secret'] },
    scopes: ['openid', 'email', 'profile', 'read'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'],
              profile: ['name', 'given_name', 'family_name'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'read', audience: RESOURCE, accessTokenTTL: 3600,
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: 'user1@bench.example', email_verified: true,
                   name: 'Bench User 1', given_name: 'Bench', family_name: 'User' };
        },
      };
    },
  });
}

if (cluster.isPrimary) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
  const oidc = provider(jwk);
  const grant = new oidc.Grant({ accountId: ACCOUNT, clientId: process.env.CLIENT_ID || 'bench' });
  grant.addOIDCScope('openid email profile');
  const grantId = await grant.save();
  const token = new oidc.AccessToken({
    accountId: ACCOUNT, clientId: process.env.CLIENT_ID || 'bench', grantId,
    scope: 'openid email profile', expiresIn: 86400,
  });
  const value = await token.save();
  const seed = JSON.stringify({ jwk, store: [...store.entries()] });
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === WORKERS) {
      process.stdout.write(`BENCH_READY ${JSON.stringify({ userinfo_token: value })}\n`);
    }
  });
  for (let i = 0; i < WORKERS; i += 1) cluster.fork({ BENCH_SEED: seed });
  const stop = () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const seed = JSON.parse(process.env.BENCH_SEED);
  for (const [k, v] of seed.store) store.set(k, v);
  const oidc = provider(seed.jwk);
  oidc.listen(PORT, '127.0.0.1');
  // A normal exit on SIGTERM, so `node --cpu-prof` profiles of a worker get written.
  process.on('SIGTERM', () => process.exit(0));
}
