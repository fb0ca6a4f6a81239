// A real OpenID Provider (panva/node-oidc-provider) for the OIDC tests.
//
//   node issuer.mjs [PORT]        (or OIDC_PORT; 0 or unset = a free port)
//
// Listens on 127.0.0.1 only; the issuer is http://127.0.0.1:<port>. Prints
// "READY <issuer>" on stdout once listening, exits 0 on SIGTERM/SIGINT.
//
// Environment:
//   OIDC_CLIENTS   JSON {"<client_id>": {"secret": "...", "roles": ["reader"]}, ...}:
//                  confidential clients (client_secret_basic) for the
//                  client_credentials grant; access tokens carry "roles".
//   OIDC_CONSOLE_REDIRECT_URI   when set, a client "console-client" for the
//                  authorization_code flow with this redirect URI (PKCE S256);
//                  confidential with OIDC_CONSOLE_CLIENT_SECRET, else public.
//                  Login is oidc-provider's devInteractions: any username, any
//                  password; a logged-in user's roles come from OIDC_USER_ROLES.
//   OIDC_USER_ROLES  JSON {"<username>": ["reader"], ...}
//
// Resource indicators (RFC 8707; the `resource` parameter must be an absolute
// URI): every access token is a JWT for exactly one resource server.
//   urn:featurestore         aud "featurestore", RS256
//   urn:featurestore:es256   aud "featurestore", ES256
//   urn:other-api            aud "other-api",    RS256 (a token not for us)
// Any other resource is refused (invalid_target).
//
// Signing keys (one RSA, one P-256) are generated at start and published at
// /jwks; nothing is persisted (in-memory adapter).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

// oidc-provider 9 is supported on Node 22 LTS and later, runs on 20.19+ (it
// warns "Unsupported runtime" there) and fails on 18, Debian 12's own nodejs:
// say so rather than fail somewhere inside it.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`node ${process.versions.node} is too old for oidc-provider 9 (needs >= 20.19)\n`);
  process.exit(2);
}
const { default: Provider, errors } = await import('oidc-provider');

const RESOURCES = {
  'urn:featurestore': { audience: 'featurestore', alg: 'RS256' },
  'urn:featurestore:es256': { audience: 'featurestore', alg: 'ES256' },
  'urn:other-api': { audience: 'other-api', alg: 'RS256' },
};
const RESOURCE_SCOPE = 'features';

function json(name, fallback) {
  const raw = process.env[name];
  if (!raw) return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${err.message}`);
  }
}

function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const kid = () => randomBytes(8).toString('hex');
  return [
    { ...rsa.export({ format: 'jwk' }), kid: kid(), alg: 'RS256', use: 'sig' },
    { ...ec.export({ format: 'jwk' }), kid: kid(), alg: 'ES256', use: 'sig' },
  ];
}

function clients() {
  const configured = json('OIDC_CLIENTS', {});
  const list = Object.entries(configured).map(([clientId, { secret, roles }]) => ({
    client_id: clientId,
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    roles: roles ?? [],
  }));
  const redirect = process.env.OIDC_CONSOLE_REDIRECT_URI;
  if (redirect) {
    const secret = process.env.OIDC_CONSOLE_CLIENT_SECRET;
    list.push({
      client_id: 'console-client',
      ...(secret
        ? { client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }
        : { token_endpoint_auth_method: 'none' }),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirect],
      roles: [],
    });
  }
  return list;
}

const userRoles = json('OIDC_USER_ROLES', {});

function configuration() {
  return {
    clients: clients(),
    jwks: { keys: signingKeys() },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    extraClientMetadata: {
      properties: ['roles'],
      validator(_ctx, key, value) {
        if (key === 'roles' && !(Array.isArray(value) && value.every((r) => typeof r === 'string'))) {
          throw new errors.InvalidClientMetadata('roles must be an array of strings');
        }
      },
    },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    // A client_credentials token carries its client's roles; a user's token
    // (authorization_code) the user's roles from OIDC_USER_ROLES.
    async extraTokenClaims(ctx, token) {
      if (token.accountId) {
        return { roles: userRoles[token.accountId] ?? [] };
      }
      const client = ctx.oidc.client ?? (await ctx.oidc.provider.Client.find(token.clientId));
      return { roles: client?.roles ?? [] };
    },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // The console needs no `resource` at the token endpoint: its one
        // granted resource is used.
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          const server = RESOURCES[resourceIndicator];
          if (!server) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPE,
            audience: server.audience,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: server.alg } },
          };
        },
      },
    },
  };
}

const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);
const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
