/**
 * A reader for the Python pickles (protocol 0, text) that pandas' table format keeps in HDF5
 * attributes: lists, tuples, dicts, strings, numbers, None, True/False. Anything else (objects,
 * globals) is refused: these attributes never need it, and building objects from a file is unsafe.
 * Tuples come back as arrays; dicts as objects keyed by `String(key)`.
 */
import { FormatError } from '../../errors';

const MARK = Symbol('mark');

function unicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a?: string, b?: string) => String.fromCodePoint(parseInt(a ?? (b as string), 16)));
}

/** Decodes a protocol-0 pickle; `file` names the source in the FormatError when it is not one. */
export function unpickle(text: string, file: string): unknown {
  const stack: unknown[] = [];
  const memo = new Map<string, unknown>();
  let i = 0;
  const line = (): string => {
    const end = text.indexOf('\n', i);
    if (end < 0) throw new FormatError(file, 'truncated pickle in an HDF5 attribute');
    const s = text.slice(i, end);
    i = end + 1;
    return s;
  };
  const popMark = (): unknown[] => {
    const m = stack.lastIndexOf(MARK);
    if (m < 0) throw new FormatError(file, 'malformed pickle in an HDF5 attribute (no mark)');
    const items = stack.splice(m);
    return items.slice(1);
  };
  const toDict = (items: unknown[], into: Record<string, unknown> = {}): Record<string, unknown> => {
    for (let k = 0; k + 1 < items.length; k += 2) into[String(items[k])] = items[k + 1];
    return into;
  };
  while (i < text.length) {
    const op = text[i++];
    switch (op) {
      case '(': stack.push(MARK); break;
      case 'l': stack.push(popMark()); break;
      case 't': stack.push(popMark()); break;
      case 'd': stack.push(toDict(popMark())); break;
      case ']': stack.push([]); break;
      case ')': stack.push([]); break;
      case '}': stack.push({}); break;
      case 'N': stack.push(null); break;
      case 'V': stack.push(unicodeEscape(line())); break;
      case 'S': stack.push(line().replace(/^(['"])(.*)\1$/, '$2')); break;
      case 'I': {
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 'L': stack.push(Number(line().replace(/L$/, ''))); break;
      case 'F': stack.push(Number(line())); break;
      case 'p': memo.set(line(), stack[stack.length - 1]); break;
      case 'g': stack.push(memo.get(line())); break;
      case 'a': {
        const v = stack.pop();
        (stack[stack.length - 1] as unknown[]).push(v);
        break;
      }
      case 'e': {
        const items = popMark();
        (stack[stack.length - 1] as unknown[]).push(...items);
        break;
      }
      case 's': {
        const v = stack.pop();
        const k = stack.pop();
        (stack[stack.length - 1] as Record<string, unknown>)[String(k)] = v;
        break;
      }
      case 'u': {
        const items = popMark();
        toDict(items, stack[stack.length - 1] as Record<string, unknown>);
        break;
      }
      case '.': return stack.pop();
      default:
        throw new FormatError(file, `unsupported pickle opcode '${op}' in an HDF5 attribute (only lists, tuples, dicts, strings and numbers are read)`);
    }
  }
  throw new FormatError(file, 'truncated pickle in an HDF5 attribute (no STOP)');
}
