// A small OpenID Connect provider for the sign-in test, shaped like Amazon
// Cognito's hosted UI so the web client cannot tell the difference: the same
// paths (/oauth2/authorize, /oauth2/token, /oauth2/revoke, /logout,
// /.well-known/openid-configuration and /.well-known/jwks.json), the
// authorization code grant with PKCE (S256) for a public client, refresh
// tokens, RS256-signed access tokens with `client_id` and `token_use: access`
// and ID tokens with `aud` and `email`, a session cookie so that a second
// sign-in skips the form, and CORS on the token endpoints.
//
// Unlike Cognito it insists on PKCE, a registered redirect and logout URI and
// single-use codes, so the test fails if the page skips any of them. It counts
// what it did (`stats`) and remembers every token it issued (`issued`), so the
// test can check that none of them lands in the browser's storage.
import { createServer } from "node:http";
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Starts the stand-in on a free loopback port.
 *
 * @param {object} options
 * @param {string} options.clientId the one registered (public) app client
 * @param {Array<{username: string, password: string, email: string}>} options.users
 * @param {number} [options.accessTokenSeconds] lifetime of access and ID tokens
 * @returns {Promise<{base: string, register: (url: string) => void, stats: object,
 *   issued: Set<string>, refreshWorks: (token: string) => Promise<boolean>, stop: () => Promise<void>}>}
 */
export async function startOidcStandIn({ clientId, users, accessTokenSeconds = 3600 }) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  const accounts = new Map(users.map((u) => [u.username, { ...u, sub: randomUUID() }]));
  const registered = new Set(); // redirect and logout URIs
  const codes = new Map(); // code -> { user, redirectUri, challenge }
  const sessions = new Map(); // cookie -> user
  const refreshTokens = new Map(); // token -> user
  const issued = new Set();
  const stats = { authorize: 0, formShown: 0, badPassword: 0, codeGrants: 0, refreshGrants: 0, revoked: 0, logouts: 0 };
  let base = "";

  const jwt = (claims) => {
    const head = b64url(JSON.stringify({ alg: "RS256", kid, typ: "JWT" }));
    const body = b64url(JSON.stringify(claims));
    const token = `${head}.${body}.${b64url(sign("RSA-SHA256", Buffer.from(`${head}.${body}`), privateKey))}`;
    issued.add(token);
    return token;
  };

  const tokens = (user, withRefresh) => {
    const now = Math.floor(Date.now() / 1000);
    const common = { sub: user.sub, iss: base, auth_time: now, iat: now, exp: now + accessTokenSeconds };
    const answer = {
      access_token: jwt({ ...common, client_id: clientId, token_use: "access", scope: "openid email", username: user.username, jti: randomUUID() }),
      id_token: jwt({ ...common, aud: clientId, token_use: "id", email: user.email, email_verified: true, "cognito:username": user.username }),
      token_type: "Bearer",
      expires_in: accessTokenSeconds,
    };
    if (withRefresh) {
      answer.refresh_token = b64url(randomBytes(32));
      refreshTokens.set(answer.refresh_token, user);
      issued.add(answer.refresh_token);
    }
    return answer;
  };

  const cookieOf = (req) => (req.headers.cookie || "").split(/;\s*/).map((c) => c.split("="))
    .find(([k]) => k === "standin_session")?.[1];

  const send = (res, status, body, headers = {}) => {
    const json = typeof body !== "string";
    res.writeHead(status, { "Content-Type": json ? "application/json" : "text/html; charset=utf-8", "Cache-Control": "no-store", ...headers });
    res.end(json ? JSON.stringify(body) : body);
  };
  const cors = (req) => (req.headers.origin ? { "Access-Control-Allow-Origin": req.headers.origin, Vary: "Origin" } : {});
  const redirect = (res, to, headers = {}) => { res.writeHead(302, { Location: to, ...headers }); res.end(); };

  const readForm = (req) => new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (c) => { body += c; if (body.length > 65536) reject(new Error("body too large")); });
    req.on("end", () => resolve(new URLSearchParams(body)));
  });

  /** The authorization request's parameters, or the reason they are refused. */
  const checkAuthorize = (q) => {
    if (q.get("response_type") !== "code") return "response_type must be code";
    if (q.get("client_id") !== clientId) return "unknown client_id";
    if (!registered.has(q.get("redirect_uri"))) return `redirect_uri ${q.get("redirect_uri")} is not registered`;
    if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(q.get("code_challenge") || "")) return "PKCE (S256) required";
    if (!q.get("state")) return "state required";
    if (!(q.get("scope") || "").split(" ").includes("openid")) return "scope must include openid";
    return null;
  };

  const issueCode = (res, q, user, headers = {}) => {
    const code = randomUUID();
    codes.set(code, { user, redirectUri: q.get("redirect_uri"), challenge: q.get("code_challenge") });
    const to = new URL(q.get("redirect_uri"));
    to.searchParams.set("code", code);
    to.searchParams.set("state", q.get("state"));
    redirect(res, to.href, headers);
  };

  const loginForm = (q, error = "") => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main><h1>Sign in</h1>${error ? `<p role="alert" id="error">${html(error)}</p>` : ""}
<form method="post" action="/login">
${[...q].map(([k, v]) => `<input type="hidden" name="${html(k)}" value="${html(v)}">`).join("\n")}
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit" name="signInSubmitButton">Sign in</button></p></form></main></body></html>`;

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, base);
      const route = `${req.method} ${url.pathname}`;
      if (req.method === "OPTIONS") {
        return send(res, 204, "", { ...cors(req), "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type" });
      }
      switch (route) {
        case "GET /.well-known/openid-configuration":
          return send(res, 200, {
            issuer: base,
            authorization_endpoint: `${base}/oauth2/authorize`,
            token_endpoint: `${base}/oauth2/token`,
            revocation_endpoint: `${base}/oauth2/revoke`,
            jwks_uri: `${base}/.well-known/jwks.json`,
            response_types_supported: ["code"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
            code_challenge_methods_supported: ["S256"],
          });
        case "GET /.well-known/jwks.json":
          return send(res, 200, { keys: [jwk] });
        case "GET /oauth2/authorize": {
          stats.authorize += 1;
          const refused = checkAuthorize(url.searchParams);
          if (refused) return send(res, 400, `<p role="alert">${html(refused)}</p>`);
          const user = sessions.get(cookieOf(req));
          if (user) return issueCode(res, url.searchParams, user);
          stats.formShown += 1;
          return send(res, 200, loginForm(url.searchParams));
        }
        case "POST /login": {
          const form = await readForm(req);
          const refused = checkAuthorize(form);
          if (refused) return send(res, 400, `<p role="alert">${html(refused)}</p>`);
          const user = accounts.get(form.get("username"));
          const params = new URLSearchParams([...form].filter(([k]) => k !== "username" && k !== "password"));
          if (!user || user.password !== form.get("password")) {
            stats.badPassword += 1;
            return send(res, 200, loginForm(params, "Incorrect username or password."));
          }
          const session = randomUUID();
          sessions.set(session, user);
          return issueCode(res, params, user, { "Set-Cookie": `standin_session=${session}; Path=/; HttpOnly; SameSite=Lax` });
        }
        case "POST /oauth2/token": {
          const form = await readForm(req);
          const fail = (error) => send(res, 400, { error }, cors(req));
          if (form.get("client_id") !== clientId) return fail("invalid_client");
          if (form.get("grant_type") === "authorization_code") {
            const grant = codes.get(form.get("code"));
            codes.delete(form.get("code"));
            if (!grant || grant.redirectUri !== form.get("redirect_uri")) return fail("invalid_grant");
            const challenge = createHash("sha256").update(form.get("code_verifier") || "").digest("base64url");
            if (challenge !== grant.challenge) return fail("invalid_grant");
            stats.codeGrants += 1;
            return send(res, 200, tokens(grant.user, true), cors(req));
          }
          if (form.get("grant_type") === "refresh_token") {
            const user = refreshTokens.get(form.get("refresh_token"));
            if (!user) return fail("invalid_grant");
            stats.refreshGrants += 1;
            return send(res, 200, tokens(user, false), cors(req));
          }
          return fail("unsupported_grant_type");
        }
        case "POST /oauth2/revoke": {
          const form = await readForm(req);
          if (form.get("client_id") !== clientId) return send(res, 400, { error: "invalid_client" }, cors(req));
          if (refreshTokens.delete(form.get("token"))) stats.revoked += 1;
          return send(res, 200, "", cors(req));
        }
        case "GET /logout": {
          const to = url.searchParams.get("logout_uri");
          if (url.searchParams.get("client_id") !== clientId || !registered.has(to)) {
            return send(res, 400, `<p role="alert">logout_uri ${html(to)} is not registered</p>`);
          }
          sessions.delete(cookieOf(req));
          stats.logouts += 1;
          return redirect(res, to, { "Set-Cookie": "standin_session=; Path=/; Max-Age=0" });
        }
        default:
          return send(res, 404, { error: "not_found", route });
      }
    } catch (err) {
      send(res, 500, { error: "server_error", message: String(err) });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;

  return {
    base,
    /** Registers an allowed redirect and logout URI of the app client. */
    register: (url) => registered.add(url),
    stats,
    issued,
    /** Whether `token` still gets new tokens at the token endpoint. */
    refreshWorks: async (token) => (await fetch(`${base}/oauth2/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: clientId, refresh_token: token }),
    })).ok,
    /** A user's `sub`, as the tokens carry it. */
    subOf: (username) => accounts.get(username).sub,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
