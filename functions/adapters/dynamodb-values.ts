/**
 * Values with caller-chosen keys, made safe for the DynamoDB document client's marshalling.
 *
 * `@aws-sdk/util-dynamodb` tells a map from a class instance, a Set, a Map, a Buffer, a String
 * or a Number by `value.constructor.name`. A plain object whose own key is `constructor` (a
 * metric, a class label, a feature of a golden input, all named by the caller) answers that
 * lookup with its own value: `{ constructor: 0.9 }` is refused ("Unsupported type passed", a 500
 * at registration), and `{ constructor: { name: 'String' } }` would be stored as the string
 * `"[object Object]"`. `convertClassInstanceToMap` covers only the first. A JavaScript `Map`
 * answers `Map` whatever its keys, and the marshaller writes it as the same DynamoDB map (`M`),
 * read back as the same plain object: so every object with an own `constructor` key goes to the
 * marshaller as a `Map` of its entries.
 *
 * `__proto__` is not handled here: the marshaller's own `map[key] = …` would drop it, so the
 * product refuses it wherever a caller names something (400 `FORBIDDEN_KEY`).
 */

/** Keys that `util-dynamodb` reads from a value to choose its DynamoDB type. */
const TYPE_KEYS = ['constructor'] as const;

/**
 * `value` with every plain object that has an own `constructor` key (at any depth) replaced by
 * a `Map` of its entries, as `util-dynamodb` marshals it correctly; everything else as it is.
 * Returns `value` itself (no copy) when nothing needs replacing. Linear in the size of `value`.
 *
 * @example
 * await documents.send(new PutCommand({ TableName, Item: marshallable({ pk, sk, metrics: { constructor: 0.9 } }) }));
 * // stored as { metrics: { M: { constructor: { N: '0.9' } } } }, read back as { metrics: { constructor: 0.9 } }
 */
export function marshallable<T>(value: T): T {
  return convert(value) as T;
}

function convert(value: unknown): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const converted = convert(value[i]);
      if (converted !== value[i]) {
        copy ??= value.slice();
        copy[i] = converted;
      }
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  const record = value as Record<string, unknown>;
  const needsMap = TYPE_KEYS.some((key) => Object.hasOwn(record, key));
  let changed: Array<[string, unknown]> | undefined;
  const keys = Object.keys(record);
  for (const [i, key] of keys.entries()) {
    const converted = convert(record[key]);
    if (converted !== record[key] && !changed) changed = keys.slice(0, i).map((k) => [k, record[k]]);
    changed?.push([key, converted]);
  }
  if (needsMap) return new Map(changed ?? Object.entries(record));
  return changed ? Object.fromEntries(changed) : value;
}

/** An object literal or JSON.parse result (prototype `Object.prototype` or none). */
function isPlainObject(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
