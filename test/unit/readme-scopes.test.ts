/**
 * The "## Scopes" table of docs/authorization.md is the route table of `functions/auth/permissions.ts` as a
 * person reads it: every route that needs a scope is listed, and only under a scope that opens it
 * (`ROUTE_SCOPES`, or `ALSO_OPENED_BY`). A route added without a row here fails this test.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALSO_OPENED_BY, ROUTE_SCOPES } from '../../functions/auth/permissions.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The rows of the table under `## Scopes`: each scope and the route keys it lists, as `ROUTE_SCOPES` spells them. */
function scopesTable(): Map<string, string[]> {
  const doc = readFileSync(path.join(ROOT, 'docs/authorization.md'), 'utf8');
  const start = doc.indexOf('\n## Scopes\n');
  if (start < 0) throw new Error('docs/authorization.md has no "## Scopes" section');
  const rest = doc.slice(start + 1);
  const section = rest.slice(0, rest.slice(1).search(/\n#{1,2} /) + 1);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = /^\| `([a-z:]+)` \| (.+) \|$/.exec(line);
    if (!cells) continue;
    const routes = [...(cells[2] as string).matchAll(/`([A-Z]+) (\/[^`]+)`/g)].flatMap(([, method, route]) =>
      expand(route as string).map((r) => `${method} ${r}`),
    );
    rows.set(cells[1] as string, routes);
  }
  return rows;
}

/** `/v2/models/{m}[/versions/{v}]/ready` → both routes, with the table's parameter names. */
function expand(route: string): string[] {
  const optional = /\[([^\]]+)\]/.exec(route);
  const forms = optional ? [route.replace(optional[0], ''), route.replace(optional[0], optional[1] as string)] : [route];
  return forms.map((form) =>
    form
      .replace(/\{m\}/g, '{model}')
      .replace(/\{v\}/g, '{version}')
      .replace(/\[\?[^\]]*\]$/, ''),
  );
}

describe('the scopes table (docs/authorization.md)', () => {
  const table = scopesTable();
  const listed = [...table].flatMap(([scope, routes]) => routes.map((route) => ({ scope, route })));

  it('lists every route that needs a scope', () => {
    // Act
    const missing = Object.keys(ROUTE_SCOPES).filter((route) => !listed.some((entry) => entry.route === route));

    // Assess
    expect(listed.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('lists each route only under a scope that opens it, and no route that does not exist', () => {
    // Act
    const wrong = listed.filter(
      ({ scope, route }) => ROUTE_SCOPES[route] !== scope && !(ALSO_OPENED_BY[route] ?? []).some((opener) => opener === scope),
    );

    // Assess
    expect(wrong).toEqual([]);
  });
});
