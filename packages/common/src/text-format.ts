// A wire message as the official Python runtime prints it (protobuf's text
// format, `print(msg)`), and Python's way of printing a float: what the
// original's tools wrote, which scripts may parse. Works on the decoded
// protobufjs message so that field presence and 64-bit values are exact.
import protobuf from 'protobufjs';

/** A message as protobufjs decoded it (fields present on the wire are own properties). */
export type WireMessage = protobuf.Message;

/** Python's repr() of a double: shortest round-trip digits, fixed from 1e-4 up to 1e16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant = '', expText = '0'] = x.toExponential().split('e');
  const exp = Number(expText);
  const sign = mant.startsWith('-') ? '-' : '';
  const digits = mant.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const frac = digits.slice(exp + 1);
  return `${sign}${digits.slice(0, exp + 1).padEnd(exp + 1, '0')}.${frac || '0'}`;
}

/** A string as the text format escapes it (UTF-8 bytes; octal for the unprintable and non-ASCII). */
export function cEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x22) out += '\\"';
    else if (b === 0x27) out += "\\'";
    else if (b === 0x5c) out += '\\\\';
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Whether a decoded protobufjs message carries a field (as opposed to its default). */
export function has(msg: protobuf.Message, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, name);
}

/** One scalar as Python's text format writes it. */
function scalar(field: protobuf.Field, v: unknown): string {
  if (field.resolvedType instanceof protobuf.Enum) return field.resolvedType.valuesById[Number(v)] ?? String(v);
  switch (field.type) {
    case 'bool':
      return v ? 'true' : 'false';
    case 'string':
      return `"${cEscape(String(v))}"`;
    case 'float':
    case 'double':
      // As Debian 12's python3-protobuf (3.21) prints them: the double's repr
      // (a float field's value widened), e.g. 0.10000000149011612.
      return pyFloat(Number(v));
    default:
      // Integers; 64-bit ones arrive as Long (exact toString).
      return String(v);
  }
}

/** text_format.MessageToString(msg): set fields in field-number order, nested messages indented by two. */
export function textFormat(msg: protobuf.Message, indent = ''): string {
  const type = (msg.constructor as unknown as { $type: protobuf.Type }).$type;
  let out = '';
  for (const field of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    if (!has(msg, field.name)) continue;
    const raw = (msg as unknown as Record<string, unknown>)[field.name];
    const values = field.repeated ? (raw as unknown[]) : [raw];
    for (const v of values) {
      if (field.resolvedType instanceof protobuf.Type) out += `${indent}${field.name} {\n${textFormat(v as protobuf.Message, `${indent}  `)}${indent}}\n`;
      else out += `${indent}${field.name}: ${scalar(field, v)}\n`;
    }
  }
  return out;
}
