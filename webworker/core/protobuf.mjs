// Minimal protobuf (proto3) primitives, written by hand: a growable writer, a
// bounds-checked reader, and a schema-driven message codec. No dependencies; runs
// in Node and browsers. 64-bit integers decode to Number when they fit in 2^53,
// else BigInt; encoders accept either.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const U64_MASK = (1n << 64n) - 1n;

export class ProtoError extends Error {}

export class ProtoWriter {
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }
  reserve(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  // Unsigned varint of a Number (< 2^53) or BigInt (negative BigInt: two's complement, 10 bytes).
  varint(v) {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new ProtoError(`varint needs an integer, got ${v}`);
      if (v >= 0 && v <= 0xffffffff) {
        this.reserve(5);
        while (v > 0x7f) {
          this.buf[this.pos++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        this.buf[this.pos++] = v;
        return;
      }
      v = BigInt(v);
    }
    let b = BigInt.asUintN(64, v);
    this.reserve(10);
    while (b > 0x7fn) {
      this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.pos++] = Number(b);
  }
  tag(field, wire) {
    this.varint(field * 8 + wire);
  }
  bytes(u8) {
    this.varint(u8.length);
    this.reserve(u8.length);
    this.buf.set(u8, this.pos);
    this.pos += u8.length;
  }
  string(s) {
    this.bytes(textEncoder.encode(s));
  }
  float(x) {
    this.reserve(4);
    this.view.setFloat32(this.pos, x, true);
    this.pos += 4;
  }
  double(x) {
    this.reserve(8);
    this.view.setFloat64(this.pos, x, true);
    this.pos += 8;
  }
  // Writes a length-delimited sub-message produced by fn(writer), in place: five
  // bytes are set aside for the length, then the content is moved down to close
  // the gap once its length is known (no intermediate buffers).
  nested(fn) {
    this.reserve(5);
    const lenPos = this.pos;
    this.pos += 5;
    const start = this.pos;
    fn(this);
    const len = this.pos - start;
    const lenBytes = len < 0x80 ? 1 : len < 0x4000 ? 2 : len < 0x200000 ? 3 : len < 0x10000000 ? 4 : 5;
    if (lenBytes < 5) this.buf.copyWithin(lenPos + lenBytes, start, this.pos);
    this.pos = lenPos;
    this.varint(len);
    this.pos = lenPos + lenBytes + len;
  }
  finish() {
    return this.buf.subarray(0, this.pos);
  }
}

export class ProtoReader {
  constructor(u8) {
    if (!(u8 instanceof Uint8Array)) u8 = new Uint8Array(u8);
    this.buf = u8;
    this.view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    this.pos = 0;
  }
  eof() {
    return this.pos >= this.buf.length;
  }
  need(n) {
    if (this.pos + n > this.buf.length)
      throw new ProtoError(`truncated message: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
  }
  // Returns a BigInt (unsigned 64-bit).
  varintBig() {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; ++i) {
      this.need(1);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result & U64_MASK;
      shift += 7n;
    }
    throw new ProtoError(`varint longer than 10 bytes at offset ${this.pos}`);
  }
  // Fast path for small varints; falls back to BigInt.
  varint() {
    const start = this.pos;
    let result = 0;
    for (let i = 0; i < 4; ++i) {
      this.need(1);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) return result;
    }
    this.pos = start;
    return toNumberIfSafe(this.varintBig());
  }
  bytes() {
    const n = this.varint();
    if (typeof n !== 'number') throw new ProtoError('length-delimited field too long');
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  string() {
    try {
      return textDecoder.decode(this.bytes());
    } catch (e) {
      if (e instanceof ProtoError) throw e;
      throw new ProtoError(`invalid UTF-8 in string field at offset ${this.pos}`);
    }
  }
  float() {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  double() {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  skip(wire) {
    switch (wire) {
      case WIRE_VARINT: this.varintBig(); return;
      case WIRE_FIXED64: this.need(8); this.pos += 8; return;
      case WIRE_LEN: this.bytes(); return;
      case WIRE_FIXED32: this.need(4); this.pos += 4; return;
      default: throw new ProtoError(`unsupported wire type ${wire} at offset ${this.pos}`);
    }
  }
}

export function toNumberIfSafe(big) {
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function signed64(v) {
  const big = BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v));
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

// ---- schema-driven messages ----
//
// A schema is { fieldName: { no, type, repeated?, message?, oneof? } } where type is
// one of: uint32 uint64 int64 int32 bool enum string bytes float double message.

const SCALAR_WIRE = {
  uint32: WIRE_VARINT, uint64: WIRE_VARINT, int64: WIRE_VARINT, int32: WIRE_VARINT,
  bool: WIRE_VARINT, enum: WIRE_VARINT, float: WIRE_FIXED32, double: WIRE_FIXED64,
};

function defaultValue(f) {
  if (f.repeated) return [];
  switch (f.type) {
    case 'string': return '';
    case 'bytes': return new Uint8Array(0);
    case 'bool': return false;
    case 'message': return null;
    default: return 0;
  }
}

function isDefault(f, v) {
  if (v === undefined || v === null) return true;
  if (f.repeated) return v.length === 0;
  switch (f.type) {
    case 'string': case 'bytes': return v.length === 0;
    case 'bool': return v === false;
    case 'message': return false;  // a present sub-message is written even when empty
    case 'float': case 'double': return v === 0 && !Object.is(v, -0);
    default: return v === 0 || v === 0n;
  }
}

function writeScalar(w, f, v) {
  switch (f.type) {
    case 'uint32': case 'uint64': case 'enum':
      if (v < 0) throw new ProtoError(`field ${f.name}: negative value ${v} for ${f.type}`);
      w.varint(v); return;
    case 'int64': case 'int32':
      w.varint(typeof v === 'bigint' ? v : (v < 0 ? BigInt(v) : v)); return;
    case 'bool': w.varint(v ? 1 : 0); return;
    case 'float': w.float(v); return;
    case 'double': w.double(v); return;
    default: throw new ProtoError(`field ${f.name}: not a scalar type ${f.type}`);
  }
}

function readScalar(r, f) {
  switch (f.type) {
    case 'uint32': return Number(BigInt.asUintN(32, r.varintBig()));
    case 'int32': return Number(BigInt.asIntN(32, r.varintBig()));
    case 'uint64': case 'enum': return r.varint();
    case 'int64': return signed64(r.varintBig());
    case 'bool': return r.varintBig() !== 0n;
    case 'float': return r.float();
    case 'double': return r.double();
    default: throw new ProtoError(`field ${f.name}: not a scalar type ${f.type}`);
  }
}

// Prepares a schema: adds names and a field-number index. Call once per message type.
export function defineMessage(name, fields) {
  const byNo = new Map();
  for (const [fname, f] of Object.entries(fields)) {
    f.name = fname;
    byNo.set(f.no, f);
  }
  return { name, fields, byNo };
}

export function encodeMessage(schema, obj, w = new ProtoWriter()) {
  for (const f of Object.values(schema.fields)) {
    const v = obj[f.name];
    if (f.oneof ? v === undefined || v === null : isDefault(f, v)) continue;
    if (f.type === 'message') {
      const items = f.repeated ? v : [v];
      for (const item of items) {
        w.tag(f.no, WIRE_LEN);
        w.nested((inner) => encodeMessage(f.message, item, inner));
      }
    } else if (f.type === 'string' || f.type === 'bytes') {
      const items = f.repeated ? v : [v];
      for (const item of items) {
        w.tag(f.no, WIRE_LEN);
        if (f.type === 'string') w.string(item);
        else w.bytes(item instanceof Uint8Array ? item : new Uint8Array(item.buffer, item.byteOffset, item.byteLength));
      }
    } else if (f.repeated) {
      w.tag(f.no, WIRE_LEN);  // packed, as proto3 does by default
      w.nested((inner) => { for (const item of v) writeScalar(inner, f, item); });
    } else {
      w.tag(f.no, SCALAR_WIRE[f.type]);
      writeScalar(w, f, v);
    }
  }
  return w;
}

export function decodeMessage(schema, u8) {
  const r = u8 instanceof ProtoReader ? u8 : new ProtoReader(u8);
  const out = {};
  for (const f of Object.values(schema.fields)) if (!f.oneof) out[f.name] = defaultValue(f);
  while (!r.eof()) {
    const key = r.varint();
    if (typeof key !== 'number') throw new ProtoError(`${schema.name}: field key too large`);
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (no === 0) throw new ProtoError(`${schema.name}: field number 0 at offset ${r.pos}`);
    const f = schema.byNo.get(no);
    if (!f) {
      r.skip(wire);  // unknown field: newer peer, additive change
      continue;
    }
    let value;
    if (f.type === 'message') {
      if (wire !== WIRE_LEN) throw new ProtoError(`${schema.name}.${f.name}: wire type ${wire}, expected 2`);
      value = decodeMessage(f.message, r.bytes());
    } else if (f.type === 'string' || f.type === 'bytes') {
      if (wire !== WIRE_LEN) throw new ProtoError(`${schema.name}.${f.name}: wire type ${wire}, expected 2`);
      value = f.type === 'string' ? r.string() : r.bytes();
    } else if (f.repeated && wire === WIRE_LEN) {
      const inner = new ProtoReader(r.bytes());
      while (!inner.eof()) out[f.name].push(readScalar(inner, f));
      continue;
    } else {
      if (wire !== SCALAR_WIRE[f.type])
        throw new ProtoError(`${schema.name}.${f.name}: wire type ${wire}, expected ${SCALAR_WIRE[f.type]}`);
      value = readScalar(r, f);
    }
    if (f.repeated) out[f.name].push(value);
    else if (f.oneof) {
      for (const other of Object.values(schema.fields)) if (other.oneof === f.oneof) delete out[other.name];
      out[f.name] = value;
      out[f.oneof] = f.name;
    } else out[f.name] = value;
  }
  return out;
}
