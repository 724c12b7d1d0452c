/**
 * The shell commands the console shows, each as it runs in the project folder (where `npm start`
 * runs): minting a token for the local API, and the help of registering a model. Every command
 * is whole, with the options it needs: `modelctl token` refuses to run without `--scope`.
 * `test/integration/console.test.ts` runs each as shown.
 */

/** `modelctl token`, as npm runs it; never shown without `--scope` (see {@link mintCommand}). */
const TOKEN_COMMAND = 'npm run -s modelctl -- token';

/** The scopes a person needs to use the console: read the registry, and try predictions. */
export const CONSOLE_SCOPES = ['models:read', 'predict'];

/**
 * The command that mints a local token with `scopes` (each once, in order).
 * @param {string[]} scopes scope names (`models:read`, `predict:iris`, ...)
 * @returns {string}
 * @example mintCommand(['predict', 'models:read']) // 'npm run -s modelctl -- token --scope predict,models:read'
 */
export function mintCommand(scopes) {
  return `${TOKEN_COMMAND} --scope ${[...new Set(scopes)].join(',')}`;
}

/** How to register a model (the command's help, which names its options). */
export const REGISTER_HELP_COMMAND = 'npm run -s modelctl -- register --help';
