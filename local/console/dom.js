/**
 * Building the page without markup strings: every value the API returns (model names, labels,
 * feature names, reasons, error messages) becomes a Text node or an attribute value, never HTML.
 * Nothing in the console assigns `innerHTML`.
 */

/**
 * An element with attributes and children.
 * - `props`: `on<event>` functions become listeners; `value`, `checked` and `disabled` are set as
 *   properties; `null`, `undefined` and `false` are left out; anything else is an attribute
 *   (`true` as an empty one).
 * - `children`: nodes, or strings and numbers (made Text nodes); arrays are flattened; `null`,
 *   `undefined` and `false` are skipped.
 *
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...unknown} children
 * @returns {HTMLElement}
 * @example h('a', { href: `#/models/${encodeURIComponent(name)}` }, name)
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'disabled') element[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/**
 * Appends children as {@link h} takes them.
 * @param {Node} parent
 * @param {unknown[]} children
 */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A table: a header row of `columns` and one row per entry of `rows`, each cell a node or text.
 * @param {string} label what the table lists, for assistive technology (`aria-label`)
 * @param {string[]} columns
 * @param {unknown[][]} rows
 * @param {(row: unknown[], index: number) => Record<string, unknown>} [rowProps]
 */
export function table(label, columns, rows, rowProps = () => ({})) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { 'aria-label': label },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((cells, i) =>
          h(
            'tr',
            rowProps(cells, i),
            cells.map((cell) => h('td', {}, cell)),
          ),
        ),
      ),
    ),
  );
}

/**
 * An ISO-8601 UTC timestamp as `2026-12-01 00:18:54 UTC`, the full value in its tooltip; `—` when absent.
 * @param {unknown} iso
 */
export function time(iso) {
  if (typeof iso !== 'string' || iso === '') return '—';
  const shown = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : iso;
  return h('time', { datetime: iso, title: iso }, shown);
}

/**
 * A number with at most `digits` decimals, or `—`.
 * @param {unknown} value
 * @param {number} [digits]
 */
export function num(value, digits = 3) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value === undefined || value === null ? '—' : String(value);
  return String(Number(value.toFixed(digits)));
}

/**
 * `text` cut to `max` characters, with an ellipsis and the whole text in a tooltip when cut.
 * @param {unknown} text
 * @param {number} [max]
 */
export function clipped(text, max = 80) {
  const value = typeof text === 'string' ? text : (JSON.stringify(text) ?? '');
  if (value.length <= max) return value;
  return h('span', { title: value.slice(0, 2000) }, `${value.slice(0, max)}…`);
}

const STAGES = new Set(['development', 'staging', 'production', 'archived']);

/**
 * A model version's stage as a badge; the class comes from a fixed list, never from the data.
 * @param {unknown} stage
 */
export function stageBadge(stage) {
  const name = String(stage);
  return h('span', { class: `badge stage-${STAGES.has(name) ? name : 'other'}` }, name);
}
