/**
 * The console's pages, by the URL's hash: `#/` the models, `#/models/<name>` one model (its live
 * release and statistics, versions, history, recent predictions, batch jobs, experiments, and the
 * form to try a prediction). Without a token, the sign-in page. Each panel loads on its own, so a
 * token without the scope of one panel still sees the others, and that panel says which scope
 * it lacks. A model that does not exist (or a name no model can have) is one page that says so,
 * not the same error in every panel.
 */
import { ApiError, api, forgetToken, storeToken, storedToken, tokenClaims, whenUnauthorized } from './api.js';
import { CONSOLE_SCOPES, REGISTER_HELP_COMMAND, mintCommand } from './commands.js';
import { clipped, h, num, stageBadge, table, time } from './dom.js';
import { exampleRecord, predictForm } from './predict-form.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const identity = /** @type {HTMLElement} */ (document.getElementById('identity'));

/** A model name as the API takes it (the registry's rule); anything else is not looked up. */
const MODEL_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The sign-in page's message after a 401 (why the user is asked again). */
let signInReason = '';

whenUnauthorized((error) => {
  forgetToken();
  signInReason = `The API refused the token: ${error.message}`;
  render();
});

window.addEventListener('hashchange', () => render());
render();

/** Shows the page the hash names. */
function render() {
  const token = storedToken();
  renderIdentity(token);
  if (!token) {
    show('Sign in', signInPage());
    return;
  }
  const route = location.hash.replace(/^#\/?/, '');
  const model = /^models\/([^/]+)$/.exec(route);
  if (model) {
    let name;
    try {
      name = decodeURIComponent(model[1]);
    } catch {
      name = '';
    }
    show(name, modelPage(name));
  } else {
    show('Models', modelsPage());
  }
}

/**
 * @param {string} title
 * @param {HTMLElement} page
 */
function show(title, page) {
  document.title = `${title} · ONNX serving console`;
  main.replaceChildren(page);
}

/** @param {string | null} token */
function renderIdentity(token) {
  if (!token) {
    identity.replaceChildren();
    return;
  }
  const claims = tokenClaims(token);
  const expires = claims?.expiresAt ? ` · expires ${claims.expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '';
  identity.replaceChildren(
    h(
      'span',
      { class: 'who', title: 'The token pasted at sign-in (kept in this tab only)' },
      h('strong', {}, claims?.subject ?? 'token'),
      ` · ${claims?.scopes.length ? claims.scopes.join(' ') : 'no scopes'}${claims?.models ? ` · models: ${claims.models.join(', ')}` : ''}${expires}`,
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          forgetToken();
          signInReason = '';
          location.hash = '#/';
          render();
        },
      },
      'Sign out',
    ),
  );
}

function signInPage() {
  const error = h('div', { class: 'sign-in-error', role: 'alert' }, signInReason ? h('p', { class: 'notice error' }, signInReason) : null);
  const field = h('textarea', {
    id: 'token',
    name: 'token',
    rows: 4,
    required: true,
    spellcheck: 'false',
    autocomplete: 'off',
    placeholder: 'eyJhbGciOiJFUzI1NiIs…',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-label': 'Sign in' },
    h('label', { for: 'token' }, 'Bearer token'),
    field,
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = field.value.trim().replace(/^Bearer\s+/i, '');
    if (token === '') {
      error.replaceChildren(h('p', { class: 'notice error' }, 'Paste a token first.'));
      return;
    }
    submit.disabled = true;
    try {
      // A 403 here is a valid token without models:read (a predict-only token): it may sign in.
      await api('GET', '/v1/models', { token, quiet401: true }).catch((e) => {
        if (!(e instanceof ApiError) || e.status !== 403) throw e;
      });
      storeToken(token);
      signInReason = '';
      render();
    } catch (e) {
      const message = e instanceof ApiError ? `${e.status === 401 ? 'The API refused the token: ' : ''}${e.message}` : String(e);
      error.replaceChildren(h('p', { class: 'notice error' }, message));
    } finally {
      submit.disabled = false;
    }
  });
  return h(
    'section',
    { class: 'panel narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h('p', {}, 'The console calls the API with your token, as any client does: it sees what the token may see.'),
    h('p', {}, 'Mint one in the project folder (add --data-dir DIR when npm start uses another data folder):'),
    h('pre', { class: 'command' }, mintCommand(CONSOLE_SCOPES)),
    h('p', { class: 'muted' }, 'The token is kept in this browser tab only (sessionStorage) and sent only to this server.'),
    error,
    form,
  );
}

/**
 * A panel whose content loads on its own: "Loading…", then the content or the error.
 * @param {string} id
 * @param {string} title
 * @param {() => Promise<Node | Node[]>} load
 * @param {Node[]} [extra] nodes after the title (a refresh button)
 */
function panel(id, title, load, extra = []) {
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const run = () =>
    load().then(
      (content) => body.replaceChildren(...[content].flat()),
      (error) => body.replaceChildren(errorNotice(error)),
    );
  run();
  return h(
    'section',
    { class: 'panel', id, 'aria-labelledby': `${id}-title` },
    h('div', { class: 'panel-head' }, h('h2', { id: `${id}-title` }, title), extra),
    body,
  );
}

/**
 * An error as a panel shows it: for a 403, the scope the token lacks and the command that mints
 * a token with it (and with the scopes this one has), when the route's scope is known.
 * @param {unknown} error
 */
function errorNotice(error) {
  if (!(error instanceof ApiError)) return h('p', { class: 'notice error' }, String(error));
  if (error.status === 403) {
    const held = tokenClaims(storedToken() ?? '')?.scopes ?? [];
    const needed = error.scope?.split(' or ')[0];
    return h(
      'div',
      { class: 'notice forbidden' },
      h('strong', {}, `403: this token lacks the scope "${error.scope ?? 'another scope'}".`),
      h('p', {}, error.message),
      needed ? h('pre', { class: 'command' }, mintCommand([...held, needed])) : null,
    );
  }
  return h('div', { class: 'notice error' }, h('strong', {}, `${error.status || 'No answer'} ${error.code}`), h('p', {}, error.message));
}

/** @param {string} name */
function modelLink(name) {
  return h('a', { href: `#/models/${encodeURIComponent(name)}` }, name);
}

function openModelForm() {
  const field = h('input', {
    id: 'open-model',
    name: 'model',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'iris',
  });
  const form = h(
    'form',
    { class: 'inline-form', 'aria-label': 'Open a model by name' },
    h('label', { for: 'open-model' }, 'Open a model by name'),
    field,
    h('button', { type: 'submit' }, 'Open'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = field.value.trim();
    if (name !== '') location.hash = `#/models/${encodeURIComponent(name)}`;
  });
  return form;
}

function modelsPage() {
  const claims = tokenClaims(storedToken() ?? '');
  const limited = claims?.models?.length
    ? h(
        'p',
        {},
        'This token is limited to: ',
        claims.models.flatMap((m, i) => [i > 0 ? ', ' : '', modelLink(m)]),
      )
    : null;
  return h(
    'div',
    { class: 'page' },
    h('h1', {}, 'Models'),
    panel('models', 'Registered models', async () => {
      const { models } = await api('GET', '/v1/models');
      if (!models.length)
        return h(
          'p',
          { class: 'muted' },
          'No models registered yet. Register one: ',
          h('code', { class: 'command' }, REGISTER_HELP_COMMAND),
        );
      return table(
        'Registered models',
        ['Model', 'Production version', 'Latest version', 'Updated', 'By'],
        models.map((m) => [
          modelLink(m.model),
          m.productionVersion ?? '—',
          String(m.latestVersion ?? '—'),
          time(m.updatedAt),
          m.updatedBy ?? '—',
        ]),
      );
    }),
    h('section', { class: 'panel' }, limited, openModelForm()),
  );
}

/**
 * The page of a model that does not exist: what was asked for, why there is none, and the way back.
 * @param {string} model the name asked for (any text: shown as text, clipped)
 * @param {string} reason
 */
function noModelPage(model, reason) {
  return h(
    'div',
    { class: 'page no-model' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Models'), ' / '),
    h('h1', {}, 'No model named “', clipped(model, 64), '”'),
    h('p', { class: 'notice error', role: 'alert' }, reason),
    h('p', {}, h('a', { href: '#/', class: 'back' }, 'Back to the models list')),
  );
}

/**
 * Whether `model` exists, asked once before the page's panels load: its registry record
 * (`models:read`), or, only for a token without that scope, its served metadata (`predict`).
 * Answers the API's message when the model does not exist; `undefined` when it does, or when the
 * token may ask neither (each panel then says which scope it lacks).
 * @param {Promise<any>} record `GET /v1/models/{model}`
 * @param {() => Promise<any>} metadata `GET /v2/models/{model}`, asked on the first call
 * @returns {Promise<string | undefined>}
 */
async function missingModel(record, metadata) {
  const notFound = (/** @type {unknown} */ e) => e instanceof ApiError && e.status === 404 && e.code === 'MODEL_NOT_FOUND';
  try {
    await record;
    return undefined;
  } catch (error) {
    if (notFound(error)) return /** @type {ApiError} */ (error).message;
    if (!(error instanceof ApiError) || error.status !== 403) return undefined;
  }
  return metadata().then(
    () => undefined,
    (error) => (notFound(error) ? error.message : undefined),
  );
}

/** @param {string} model */
function modelPage(model) {
  if (!MODEL_NAME.test(model)) {
    return noModelPage(model, 'A model name is 1 to 63 of a-z, 0-9, "-" and "_", starting with a letter or digit.');
  }
  const params = { model };
  const record = api('GET', '/v1/models/{model}', { params });
  /** @type {Promise<any> | undefined} */
  let asked;
  const metadata = () => {
    asked ??= api('GET', '/v2/models/{model}', { params });
    return asked;
  };
  // Each feeds a panel, which reports its error; an unhandled rejection is not the console's to report twice.
  record.catch(() => undefined);
  const page = h('div', { class: 'page' }, h('p', { class: 'muted' }, 'Loading…'));
  missingModel(record, metadata).then((reason) => {
    page.replaceWith(reason === undefined ? modelPanels(model, record, metadata) : noModelPage(model, reason));
  });
  return page;
}

/**
 * The panels of a model that exists.
 * @param {string} model
 * @param {Promise<any>} record `GET /v1/models/{model}`, already asked
 * @param {() => Promise<any>} metadata `GET /v2/models/{model}`, asked once
 */
function modelPanels(model, record, metadata) {
  const params = { model };
  const versions = api('GET', '/v1/models/{model}/versions', { params });
  // The versions feed two panels; an unhandled rejection is not the console's to report twice.
  versions.catch(() => undefined);
  const refresh = h('button', { type: 'button', onclick: () => render() }, 'Refresh');
  return h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Models'), ' / '),
    h('div', { class: 'page-head' }, h('h1', {}, model), refresh),
    panel('summary', 'Summary', async () => summary(await record)),
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'column-main' },
        panel('release', 'Live release', async () => {
          const [deployment, stats] = await Promise.all([
            api('GET', '/v1/models/{model}/deployment', { params }),
            api('GET', '/v1/models/{model}/stats', { params }),
          ]);
          return release(deployment, stats);
        }),
        panel('versions', 'Versions', async () => versionsTable((await versions).versions)),
        panel('history', 'Stage history', async () => historyTable((await api('GET', '/v1/models/{model}/history', { params })).history)),
        panel('predictions', 'Recent predictions', async () =>
          predictionsTable(
            (await api('GET', '/v1/models/{model}/predictions', { params, query: { limit: '20', order: 'newest' } })).records,
          ),
        ),
        panel('batch-jobs', 'Batch jobs', async () =>
          jobsTable((await api('GET', '/v1/models/{model}/batch-jobs', { params, query: { limit: '20' } })).jobs),
        ),
        panel('experiments', 'Experiments', async () =>
          experimentsTable((await api('GET', '/v1/models/{model}/experiments', { params })).experiments),
        ),
      ),
      h(
        'div',
        { class: 'column-side' },
        panel('try-it', 'Try a prediction', async () => {
          const tensors = await metadata();
          // Start from the served version's golden input when the token may read the registry.
          const served = await versions.then(
            (v) => v.versions.find((x) => x.version === tensors.parameters?.model_version),
            () => undefined,
          );
          return predictForm(model, tensors, exampleRecord(served?.metadata));
        }),
      ),
    ),
  );
}

/** @param {any} record `GET /v1/models/{m}` */
function summary(record) {
  const stages = (record.versions ?? []).map((v) => v.stage);
  const count = (stage) => stages.filter((s) => s === stage).length;
  return h(
    'dl',
    { class: 'facts' },
    fact('Production version', record.productionVersion ?? 'none yet'),
    fact('Latest version', String(record.latestVersion ?? '—')),
    fact('Versions', String((record.versions ?? []).length)),
    fact('In staging', String(count('staging'))),
    fact('Last change', [time(record.updatedAt), record.updatedBy ? ` by ${record.updatedBy}` : '']),
  );
}

/**
 * @param {string} term
 * @param {unknown} value
 */
function fact(term, value) {
  return h('div', {}, h('dt', {}, term), h('dd', {}, value));
}

/**
 * The alias's weights as a bar, then each version's numbers in the window; a sentence instead
 * while the alias serves no model version (none in production: `modelVersion` is null).
 * @param {any} deployment `GET /v1/models/{m}/deployment`
 * @param {any} stats `GET /v1/models/{m}/stats`
 */
function release(deployment, stats) {
  const routed = [deployment.stable, deployment.canary].filter(Boolean);
  if (!routed.some((v) => v.modelVersion != null)) {
    return h('p', { class: 'muted' }, 'No live release yet: no version is in production.');
  }
  const bar = h(
    'div',
    {
      class: 'weights',
      role: 'img',
      'aria-label': routed
        .map((v, i) => `${i === 0 ? 'stable' : 'canary'} model version ${v.modelVersion ?? '?'}: ${v.percent}%`)
        .join(', '),
    },
    routed.map((v, i) => {
      const part = h(
        'div',
        { class: `weight ${i === 0 ? 'stable' : 'canary'}` },
        `${i === 0 ? 'stable' : 'canary'} v${v.modelVersion ?? '?'} · ${num(v.percent, 2)}%`,
      );
      part.style.flexGrow = String(Math.max(v.percent, 0.5));
      return part;
    }),
  );
  const healthy = stats.healthy ? h('span', { class: 'badge ok' }, 'healthy') : h('span', { class: 'badge bad' }, 'unhealthy');
  return [
    h(
      'p',
      {},
      `Alias "${deployment.alias}" routes the traffic${deployment.canary ? ' between two versions' : ' to one version'}; the last ${stats.windowMinutes} minutes: `,
      healthy,
    ),
    bar,
    table(
      'Per-version statistics',
      ['Role', 'Model version', 'Function version', 'Traffic', 'Invocations', '4xx', '5xx', 'Error rate', 'p50 ms', 'p99 ms', 'Health'],
      (stats.versions ?? []).map((v) => [
        v.role,
        v.modelVersion ?? '—',
        v.functionVersion,
        `${num(v.percent, 2)}%`,
        String(v.invocations),
        String(v.clientErrors),
        String(v.serverErrors),
        `${num((v.errorRate ?? 0) * 100, 2)}%`,
        num(v.latencyMs?.p50, 1),
        num(v.latencyMs?.p99, 1),
        v.healthy ? 'ok' : [h('span', { class: 'badge bad' }, 'unhealthy'), ' ', (v.reasons ?? []).join('; ')],
      ]),
    ),
    h(
      'p',
      { class: 'muted' },
      `Thresholds: error rate ≤ ${num((stats.thresholds?.maxErrorRate ?? 0) * 100, 2)}%, mean latency ≤ ${num(stats.thresholds?.maxMeanLatencyMs, 0)} ms.`,
    ),
  ];
}

/** @param {any[]} versions `GET /v1/models/{m}/versions` */
function versionsTable(versions) {
  if (!versions.length) return h('p', { class: 'muted' }, 'No versions registered.');
  return table(
    'Model versions',
    ['Version', 'Stage', 'Algorithm', 'Metrics', 'Features', 'Registered', 'By'],
    [...versions]
      .reverse()
      .map((v) => [
        v.version,
        stageBadge(v.stage),
        clipped(v.metadata?.algorithm ?? '—', 40),
        metricsSummary(v.metadata?.metrics),
        String(v.metadata?.features?.length ?? '—'),
        time(v.registeredAt),
        v.registeredBy ?? '—',
      ]),
  );
}

/**
 * A version's first two declared metrics, `accuracy 0.967, trainAccuracy 0.975`; `—` when none.
 * @param {unknown} metrics
 */
function metricsSummary(metrics) {
  if (metrics === null || typeof metrics !== 'object') return '—';
  const shown = Object.entries(metrics)
    .filter(([, value]) => typeof value === 'number')
    .slice(0, 2)
    .map(([name, value]) => `${name} ${num(value, 3)}`);
  return shown.length > 0 ? clipped(shown.join(', '), 60) : '—';
}

/** @param {any[]} history `GET /v1/models/{m}/history` */
function historyTable(history) {
  if (!history.length) return h('p', { class: 'muted' }, 'No stage changes yet.');
  return table(
    'Stage history',
    ['When', 'Version', 'From', 'To', 'By', 'Reason'],
    [...history]
      .reverse()
      .map((e) => [time(e.at), e.version, stageBadge(e.from), stageBadge(e.to), e.actor ?? '—', clipped(e.reason ?? '', 120)]),
  );
}

/**
 * What a logged prediction answered, in a few words: its labels, or its outputs' text.
 * @param {unknown} outputs the record's `outputs` (JSON text, possibly truncated)
 */
function outputsSummary(outputs) {
  if (typeof outputs !== 'string') return '—';
  try {
    const parsed = JSON.parse(outputs);
    if (Array.isArray(parsed) && parsed.every((p) => p && typeof p === 'object' && 'label' in p))
      return clipped(parsed.map((p) => String(p.label)).join(', '), 80);
  } catch {
    // Truncated text: shown as it is.
  }
  return clipped(outputs, 80);
}

/** @param {any[]} records `GET /v1/models/{m}/predictions` */
function predictionsTable(records) {
  if (!records.length) return h('p', { class: 'muted' }, 'No predictions in the log yet.');
  return table(
    'Recent predictions',
    ['When', 'Model version', 'Caller', 'Rows', 'Latency ms', 'Answer'],
    records.map((r) => [
      time(r.timestamp),
      r.modelVersion ?? '—',
      clipped(r.caller ?? '—', 48),
      String(r.rows ?? '—'),
      num(r.latencyMs, 1),
      r.errorCode ? h('span', { class: 'badge bad' }, r.errorCode) : outputsSummary(r.outputs),
    ]),
  );
}

/** @param {any[]} jobs `GET /v1/models/{m}/batch-jobs` */
function jobsTable(jobs) {
  if (!jobs.length) return h('p', { class: 'muted' }, 'No batch jobs for this model.');
  return table(
    'Batch jobs',
    ['Job', 'State', 'Model version', 'Predicted', 'Failed', 'Input', 'Submitted', 'By'],
    jobs.map((j) => [
      clipped(j.jobId, 24),
      j.state,
      j.modelVersion ?? '—',
      String(j.progress?.predicted ?? 0),
      String(j.progress?.failed ?? 0),
      clipped(j.input?.uri ?? '—', 48),
      time(j.submittedAt),
      clipped(j.submittedBy ?? '—', 32),
    ]),
  );
}

/** @param {any[]} experiments `GET /v1/models/{m}/experiments` */
function experimentsTable(experiments) {
  if (!experiments.length) return h('p', { class: 'muted' }, 'No experiments for this model.');
  return table(
    'Experiments',
    ['Experiment', 'State', 'Variants', 'Metric', 'Starts', 'Ends'],
    experiments.map((e) => [
      clipped(e.name ?? e.id, 40),
      e.state,
      (e.variants ?? []).map((v) => `${v.name}: v${v.version} ${num(v.weight, 2)}%`).join(', '),
      `${e.metric} (${e.goal})`,
      time(e.startsAt),
      e.stoppedAt ? time(e.stoppedAt) : time(e.endsAt),
    ]),
  );
}
