/**
 * ONNX Runtime's error texts, split into what a caller may read and what only the log may keep.
 *
 * ORT's C++ checks (`ORT_ENFORCE`, `ORT_THROW`) write `<source file>:<line> <C++ signature>
 * [<condition> was false.] <message>`, e.g.
 *
 *     Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/rnn/
 *     deep_cpu_gru.h:49 onnxruntime::DeepCpuGruOp::DeepCpuGruOp(const onnxruntime::OpKernelInfo&)
 *     activation_func_names.size() == static_cast<size_t>(num_directions_) * 2 was false.
 *
 * The source path, line, signature and the failed C++ condition say nothing a model's author can
 * act on and describe our build; the message after them (and ORT's own prefix: which node, which
 * operator) is what they need. `publicOrtReason` keeps the latter, bounded; the whole text goes
 * to the log under a short reference that the public text quotes.
 */
import { createHash } from 'node:crypto';
import { clip } from '../core/errors.js';

/** Longest public reason, in characters (before the reference). */
export const MAX_PUBLIC_REASON = 400;
/**
 * The part of ORT's text that is read at all, in characters: its messages quote names from the
 * model file, which may be any length; everything below is linear in this much text.
 */
export const MAX_SCANNED = 4_000;

/** A token (no whitespace) that is C/C++ source with its line: `/onnxruntime_src/…/x.h:49`, `inference_session.cc:3106`. */
const SOURCE_TOKEN = /onnxruntime_src|\.(?:h|hh|hpp|hxx|c|cc|cpp|cxx|inc|inl|cu)(?::\d+)+:?$/;
const EXTRA_SOURCE_TEXT = /onnxruntime_src|\.(?:h|hh|hpp|hxx|c|cc|cpp|cxx|inc|inl|cu):\d/;
/** What is left of an ORT text once the internals are gone, when nothing else is. */
const PREFIX_ONLY =
  /^(?:[\s:.,;-]|Exception during initialization|Non-zero status code returned while running \S+ node\.|Name:'[^']*'|Status Message|This is an invalid model\.|Error)*$/i;
const GENERIC = "an operator's attributes or weights are not consistent with each other (one of ONNX Runtime's internal checks failed)";

export interface OrtReason {
  /** What a caller may be told: no source paths, lines, signatures or C++ conditions; bounded. */
  readonly public: string;
  /** The whole text, for the log (cut to {@link MAX_SCANNED} characters). */
  readonly detail: string;
  /** Quoted in `public` when something was left out: find the whole text in the log by it. */
  readonly reference: string;
}

/** The message of whatever ONNX Runtime threw (its errors are `Error`s with the C++ text as message). */
export function ortMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : String(error);
}

/**
 * Splits ONNX Runtime's error text. `public` keeps ORT's own words where they are about the
 * model (the node, the operator, the type or shape that is wrong) and drops every source
 * reference with the C++ signature and failed condition after it, any remaining `a::b` C++ names,
 * and stack traces; it is at most {@link MAX_PUBLIC_REASON} characters plus the reference. Work is
 * linear in at most {@link MAX_SCANNED} characters of the text.
 *
 * @example
 * publicOrtReason(new Error('Exception during initialization: /onnxruntime_src/…/tree_ensemble_attribute.h:83 onnxruntime::ml::…(…) [with ThresholdType = float] a.size() == b.size() was false. nodes_falsenodeids and nodes_nodeids must have the same size, got 0 and 1'))
 * // → { public: 'Exception during initialization: nodes_falsenodeids and nodes_nodeids must have the same size, got 0 and 1 (reference ort-1a2b3c4d…)', … }
 */
export function publicOrtReason(error: unknown): OrtReason {
  const whole = ortMessage(error);
  const detail = whole.length > MAX_SCANNED ? `${whole.slice(0, MAX_SCANNED)}… (${whole.length - MAX_SCANNED} more characters)` : whole;
  const reference = `ort-${createHash('sha256').update(whole).digest('hex').slice(0, 10)}`;
  let text = whole.slice(0, MAX_SCANNED);
  const trace = text.indexOf('Stacktrace:');
  let removed = trace >= 0;
  if (trace >= 0) text = text.slice(0, trace);
  let out = '';
  let at = 0;
  for (let ref = nextSourceRef(text, 0); ref; ref = nextSourceRef(text, at)) {
    out += text.slice(at, ref.start);
    at = skipSignature(text, ref.end);
    removed = true;
  }
  text = out + text.slice(at);
  // Any C++ qualified name left over (`std::vector<…>`, `onnxruntime::…`).
  const tokens = text.split(/(\s+)/);
  const kept = tokens.filter((token) => !/\w::\w/.test(token));
  if (kept.length !== tokens.length) removed = true;
  text = kept
    .join('')
    .replace(/\s+/g, ' ')
    .replace(/\s+([.,;:])/g, '$1')
    .trim();
  if (EXTRA_SOURCE_TEXT.test(text)) {
    text = '';
    removed = true;
  }
  text = clip(text, MAX_PUBLIC_REASON);
  if (PREFIX_ONLY.test(text)) {
    text = text.length > 0 && !/[.:]$/.test(text) ? `${text}: ${GENERIC}` : `${text}${text.length > 0 ? ' ' : ''}${GENERIC}`;
  }
  return { public: removed ? `${text} (reference ${reference}; the full text is in the service's log)` : text, detail, reference };
}

/** The next whitespace-delimited token from `from` on that is a source reference. */
function nextSourceRef(text: string, from: number): { start: number; end: number } | undefined {
  const tokens = /\S+/g;
  tokens.lastIndex = from;
  for (let m = tokens.exec(text); m; m = tokens.exec(text)) {
    if (SOURCE_TOKEN.test(m[0])) return { start: m.index, end: m.index + m[0].length };
  }
  return undefined;
}

/**
 * From `from` (just after a source reference), skips the C++ signature ORT writes there, its
 * `const`/`[with T = …]` suffixes, and an `ORT_ENFORCE` condition (`… was false.`); returns where
 * the message resumes.
 */
function skipSignature(text: string, from: number): number {
  let i = from;
  while (text[i] === ' ') i++;
  // The signature ends with its parameter list: the ')' that closes every '(' before it, unless
  // another '(' follows at once (`operator()(…)`).
  const openParen = text.indexOf('(', i);
  if (openParen >= 0 && text.slice(i, openParen).includes('::')) {
    let depth = 0;
    let j = openParen;
    for (; j < text.length; j++) {
      if (text[j] === '(') depth++;
      else if (text[j] === ')' && --depth === 0 && text[j + 1] !== '(') {
        j++;
        break;
      }
    }
    i = j;
    for (let suffix = SIGNATURE_SUFFIX.exec(text.slice(i)); suffix; suffix = SIGNATURE_SUFFIX.exec(text.slice(i))) i += suffix[0].length;
  }
  // `ORT_ENFORCE(condition, message)` writes "<condition> was false." before the message.
  const condition = text.indexOf('was false.', i);
  const nextRef = nextSourceRef(text, i);
  if (condition >= 0 && (!nextRef || condition < nextRef.start)) i = condition + 'was false.'.length;
  return i;
}

const SIGNATURE_SUFFIX = /^\s*(?:(?:const|noexcept|override|final|volatile)\b|&&|&|\[with [^\]]*\])/;
