/**
 * Reading a lab file: YAML text → LabModel, or a LabFileError listing every
 * problem found, one per line, each as `FILE:LINE:COL FIELD.PATH: sentence`:
 *
 *   lab.yaml:12:7 services.web.ports[0]: "8080:80/sctp": protocol must be tcp or udp
 *
 * Three passes, each collecting every problem it can before the next runs:
 * YAML syntax (the `yaml` package's own errors, with their offsets), the
 * schema (zod issues, whose paths are walked back to the YAML nodes to find
 * a line and column), then normalize.ts (addresses, ports, dependencies),
 * which reports against paths the same way. A problem about a missing key
 * points at the map that should hold it.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { LabModel } from './model.js';
import { normalizeLab, type Report } from './normalize.js';
import { NAME_PATTERN, labFileSchema, networkSchema, serviceSchema, type LabFile } from './schema.js';

/** One step of a field path: a map key or a list index. */
export type PathSegment = string | number;

export interface LabFileProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** `services.web.ports[0]`; empty for the file as a whole. */
  path: string;
  message: string;
}

/** A lab file that cannot be loaded; `message` has one line per problem. */
export class LabFileError extends Error {
  readonly code = 'ELABFILE';
  constructor(
    readonly file: string,
    readonly problems: readonly LabFileProblem[],
  ) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'LabFileError';
  }
}

/** `FILE:LINE:COL PATH: sentence` (no path: `FILE:LINE:COL sentence`). */
export function formatProblem(p: LabFileProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** A sentence about the whole file reads "the lab file must be…", not "must be…". */
function rootSentence(path: readonly PathSegment[], sentence: string): string {
  return path.length === 0 && /^(must|is) /.test(sentence) ? `the lab file ${sentence}` : sentence;
}

/** `services.web.ports[0]`; keys that are not plain words are quoted: `services["a b"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Reads and loads a lab file; throws LabFileError (also when the file cannot be read). */
export function loadLabFile(path: string): LabModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new LabFileError(path, [{ file: path, line: 1, col: 1, path: '', message: `cannot read the lab file: ${reason}` }]);
  }
  return parseLabText(text, path);
}

/**
 * Parses, validates and normalizes a lab file's text. `fileName` is used in
 * messages and as the model's `file`; the lab's default name is its
 * directory's name.
 */
export function parseLabText(text: string, fileName: string): LabModel {
  const lineCounter = new LineCounter();
  const problems: LabFileProblem[] = [];
  const at = (offset: number, path: readonly PathSegment[], message: string): void => {
    const pos = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    // One line per problem, whatever a key or a value holds.
    const oneLine = (t: string): string => t.replace(/\r\n|\r|\n/g, '\\n');
    problems.push({ file: fileName, line: pos.line, col: pos.col, path: oneLine(formatPath(path)), message: oneLine(message) });
  };
  const fail = (): never => {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new LabFileError(fileName, problems);
  };

  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) at(err.pos[0], [], `YAML syntax error: ${yamlSentence(err.message)}`);
  if (problems.length > 0) fail();

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    at(0, [], `the YAML cannot be read: ${err instanceof Error ? err.message : String(err)}`);
    return fail();
  }

  const locate = (path: readonly PathSegment[], atKey = false): number => nodeOffset(doc, path, atKey);
  const report: Report = (path, message, options) =>
    at(locate(path, options?.atKey ?? false), path, rootSentence(path, message));

  const dir = basename(dirname(resolve(fileName)));
  const keysInFileOrder = (path: readonly PathSegment[]): string[] => {
    const node = doc.getIn(path, true);
    return isMap(node) ? node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key))) : [];
  };

  const parsed = labFileSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportIssue(issue, [], report, data);
    // Check what the schema accepted too, so one run lists every problem.
    const partial = salvage(data);
    if (partial !== undefined) {
      normalizeLab(partial.file, { file: fileName, directoryName: dir, report, keysInFileOrder, alsoDeclared: partial.declared });
    }
    return fail();
  }

  const model = normalizeLab(parsed.data, { file: fileName, directoryName: dir, report, keysInFileOrder });
  if (problems.length > 0) fail();
  return model;
}

/**
 * The part of a schema-rejected file the schema accepts: the services and
 * networks that are valid on their own, plus every declared name. Undefined
 * when the file's outline (a map with a services map) is itself wrong.
 */
function salvage(data: unknown): { file: LabFile; declared: { services: string[]; networks: string[] } } | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(data) || !isObject(data.services)) return undefined;
  const rawNetworks = data.networks === undefined ? {} : data.networks;
  if (!isObject(rawNetworks)) return undefined;
  const services: LabFile['services'] = {};
  for (const [k, v] of Object.entries(data.services)) {
    const r = serviceSchema.safeParse(v);
    if (r.success && NAME_PATTERN.test(k)) services[k] = r.data;
  }
  const networks: NonNullable<LabFile['networks']> = {};
  for (const [k, v] of Object.entries(rawNetworks)) {
    const r = networkSchema.nullable().safeParse(v);
    if (r.success && NAME_PATTERN.test(k)) networks[k] = r.data;
  }
  const name = labFileSchema.shape.name.safeParse(data.name);
  return {
    // A rejected name was reported; a stand-in keeps the directory-name default from adding another.
    file: { name: name.success ? name.data : 'lab', networks, services },
    declared: { services: Object.keys(data.services), networks: Object.keys(rawNetworks) },
  };
}

/** The first line of a yaml error, without its "at line N, column M" (we print that). */
function yamlSentence(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '').trim() || 'YAML syntax error';
}

/**
 * The offset of the node at `path`: the value's node, or the key's when
 * `atKey` (or when the value is absent). Where the path leaves the
 * document (a missing key), the deepest node that exists: the parent map.
 */
function nodeOffset(doc: Document, path: readonly PathSegment[], atKey: boolean): number {
  let node: Node | null = doc.contents;
  let keyNode: Node | null = null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyMatches(p.key, seg));
      if (pair === undefined) return offset;
      keyNode = isScalar(pair.key) || isMap(pair.key) || isSeq(pair.key) ? (pair.key as Node) : null;
      const value = pair.value as Node | null;
      if (last && atKey && keyNode?.range) return keyNode.range[0];
      if (value === null || value.range === undefined || value.range === null) {
        return keyNode?.range?.[0] ?? offset;
      }
      // An empty value (`web:`) has a zero-length range just after the key: point at the key.
      if (isScalar(value) && value.value === null && value.range[0] === value.range[1] && keyNode?.range) {
        return keyNode.range[0];
      }
      node = value;
      offset = value.range[0];
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | null | undefined;
      if (item === null || item === undefined || !item.range) return offset;
      node = item;
      offset = item.range[0];
    } else {
      return offset;
    }
  }
  return offset;
}

function keyMatches(key: unknown, seg: PathSegment): boolean {
  if (isScalar(key)) return String(key.value) === String(seg);
  return key === seg || String(key) === String(seg);
}

type Issue = z.core.$ZodIssue;

/** Compose keys a compose user may write that wirelab does not take (yet): said so, not just "unknown". */
const COMPOSE_ONLY_KEYS = new Set([
  'version', 'volumes', 'configs', 'secrets', 'include', 'image', 'build', 'container_name', 'hostname', 'restart',
  'entrypoint', 'working_dir', 'user', 'env_file', 'expose', 'labels', 'cap_add', 'cap_drop', 'privileged', 'deploy',
  'profiles', 'network_mode', 'dns_search', 'extra_hosts', 'driver', 'driver_opts', 'external', 'internal', 'ipv6_address',
]);

/** Turns one zod issue into problems with our sentences. */
function reportIssue(issue: Issue, prefix: readonly PathSegment[], report: Report, root: unknown): void {
  const path: PathSegment[] = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const hint = COMPOSE_ONLY_KEYS.has(key) ? ' (a docker compose key this version of wirelab does not support)' : '';
        report([...path, key], `unknown key ${JSON.stringify(key)}${hint}`, { atKey: true });
      }
      return;
    case 'invalid_key': {
      const inner = issue.issues[0];
      report(path, inner?.message ?? 'invalid name', { atKey: true });
      return;
    }
    case 'invalid_union': {
      // A branch that got past the type check says what is really wrong.
      const deep = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (deep.length >= 1) {
        const best = deep.reduce((a, b) => (b.length < a.length ? b : a));
        for (const inner of best) reportIssue(inner, path, report, root);
        return;
      }
      report(path, withActual(issue.message, issue.input, path, root));
      return;
    }
    case 'invalid_type': {
      if (issue.input === undefined && !hasPath(root, path)) {
        report(path, 'is required');
        return;
      }
      const custom = !issue.message.startsWith('Invalid input');
      const sentence = custom ? issue.message : `must be ${describeExpected(issue.expected)}`;
      report(path, withActual(sentence, issue.input, path, root));
      return;
    }
    case 'invalid_value':
    case 'invalid_format':
    case 'too_small':
    case 'too_big':
    case 'not_multiple_of':
    case 'invalid_element':
    case 'custom':
    default:
      report(path, issue.message.startsWith('Invalid input') ? `${issue.message.slice('Invalid input'.length).replace(/^:\s*/, '') || 'is not valid'}` : issue.message);
  }
}

function hasPath(root: unknown, path: readonly PathSegment[]): boolean {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return false;
    if (!Object.prototype.hasOwnProperty.call(cur, seg)) return false;
    cur = (cur as Record<string, unknown>)[String(seg)];
  }
  return true;
}

function withActual(sentence: string, input: unknown, path: readonly PathSegment[], root: unknown): string {
  if (input === undefined && !hasPath(root, path)) return 'is required';
  return `${sentence}, not ${describeValue(input)}`;
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
    case 'record':
      return 'a map';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'empty';
    default:
      return expected;
  }
}

/** `a number (8080)`, `a list`, `a map`, `empty`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `${value}`;
    case 'bigint':
      return `a number (${value})`;
    case 'object':
      return value instanceof Uint8Array ? 'binary data' : value instanceof Map || value instanceof Set ? 'a tagged collection' : 'a map';
    default:
      return typeof value;
  }
}
