/**
 * `modelctl token`: a token for the local API (`npm start`), signed with its data folder's key.
 * It prints only the token, so that `$(modelctl token ...)` can be pasted anywhere.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { MAX_SUBJECT_LENGTH } from '../../functions/auth/claims.js';
import { MAX_MODELS_PER_TOKEN, SCOPES, parseScope } from '../../functions/auth/permissions.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  LOCAL_MAX_TOKEN_LIFETIME_SECONDS,
  checkMintOptions,
  mintToken,
  readSigningKey,
  signingKeyPath,
} from '../../local/auth.js';
import { FOLDER, NAMES, TEXT, strict } from './args.js';
import { type Call, type Cli, action, command, option } from './command.js';
import { UsageError, fileError, messageOf, shown } from './common.js';

interface TokenOptions {
  /** Each `--scope` given, its comma-separated scopes. */
  readonly scope?: string[][];
  readonly model?: string[];
  readonly subject?: string;
  /** Seconds. */
  readonly ttl?: number;
  readonly dataDir?: string;
}

/** `--scope a,b`: scopes the API knows, `<scope>` or `<scope>:<model>`. */
const SCOPE_LIST = strict('scopes', (value, name) => {
  const scopes = value
    .split(',')
    .map((scope) => scope.trim())
    .filter(Boolean);
  const unknown = scopes.find((scope) => !parseScope(scope));
  if (unknown !== undefined)
    throw new UsageError(`Unknown scope ${shown(unknown)} in ${name}; use ${SCOPES.join(', ')}, or <scope>:<model>.`);
  return scopes;
});

/** `--ttl SECONDS`: whole seconds the local API accepts (`local/auth.ts`). */
const TTL_SECONDS = strict('whole number', (value, name) => {
  // Whole decimal seconds only: Number() would also take "1e12", "0x10" or " ".
  const ttl = /^[0-9]{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!(ttl >= 1 && ttl <= LOCAL_MAX_TOKEN_LIFETIME_SECONDS))
    throw new UsageError(
      `${name} is a whole number of seconds from 1 to ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} (7 days, the most the local API accepts), not ${shown(value)}.`,
    );
  return ttl;
});

/** `token`, on `program`. */
export function addTokenCommand(program: Command, cli: Cli): void {
  const token = command(program, {
    name: 'token',
    summary: 'print a token for the local API',
    group: 'Local:',
    usage: '--scope SCOPE [options]',
    description:
      "Print a token for the local API (npm start), signed with the data folder's key. --scope and --model repeat or " +
      `take comma-separated lists; --model limits every scope to those models (at most ${MAX_MODELS_PER_TOKEN}). A scope ` +
      `is <scope> or <scope>:<model>, <scope> one of ${SCOPES.join(', ')}.`,
    after: 'Example:\n  export MODELCTL_TOKEN=$(npm run -s modelctl -- token --scope predict,models:read --model iris)',
  });
  option(token, '--scope <scopes>', 'what the token allows (repeats; a,b)', SCOPE_LIST, { repeat: true });
  option(token, '--model <names>', 'only these models (repeats; a,b)', NAMES, { repeat: true });
  option(token, '--subject <name>', `who the token is for, 1 to ${MAX_SUBJECT_LENGTH} characters (default local-dev)`, TEXT);
  option(
    token,
    '--ttl <seconds>',
    `its lifetime, 1 to ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} whole seconds (7 days, the longest the local API accepts; default ${DEFAULT_TOKEN_TTL_SECONDS})`,
    TTL_SECONDS,
  );
  option(token, '--data-dir <dir>', "the local API's data folder (default: $DATA_DIR, else .data)", FOLDER);
  token.action(action(cli, mint));
}

async function mint(call: Call<TokenOptions>): Promise<number> {
  const { io, opts } = call;
  const split = (values: readonly string[] | undefined) =>
    (values ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
  const ttl = opts.ttl ?? DEFAULT_TOKEN_TTL_SECONDS;
  const models = split(opts.model);
  const options = {
    scopes: (opts.scope ?? []).flat(),
    ...(models.length > 0 ? { models } : {}),
    subject: opts.subject ?? 'local-dev',
    ttlSeconds: ttl,
    now: (io.now ?? Date.now)(),
  };
  try {
    checkMintOptions(options);
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const file = signingKeyPath(path.resolve(opts.dataDir ?? io.env['DATA_DIR'] ?? '.data'));
  let key;
  try {
    key = await readSigningKey(file, io.readFile);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    io.err(
      missing
        ? `modelctl: no local signing key at ${file}. Start the local API once (npm start) to create it, or point --data-dir at its data folder.\n`
        : `modelctl: ${messageOf(fileError(error, file, 'read'))}\n`,
    );
    return 1;
  }
  io.out(`${await mintToken(key, options)}\n`);
  return 0;
}
