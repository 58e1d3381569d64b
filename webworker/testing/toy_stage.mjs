// A toy stage model written as ONNX bytes, for worker protocol tests that must
// not depend on the model tool. It has a stage's interface (input_ids,
// attention_mask, position_ids, past_key_values.0.key/value -> boundary tensor
// and present.0.*) and outputs that expose the KV and the positions it saw:
//   hidden [1, s, 2]        = E[input_ids] + position_ids (broadcast)
//   present.0.key/value     = concat(past, E[input_ids]) along the sequence
//   kv_sum [1, 1, 2]        = sum over the sequence of present.0.key
//   mask_len [1]            = number of attention_mask entries
import { ProtoWriter } from '../core/protobuf.mjs';

const FLOAT = 1;
const INT64 = 7;

const str = (w, no, s) => { w.tag(no, 2); w.string(s); };

function valueInfo(w, no, name, elem, dims) {
  w.tag(no, 2);
  w.nested((vi) => {
    str(vi, 1, name);
    vi.tag(2, 2); vi.nested((tp) => {
      tp.tag(1, 2); tp.nested((tt) => {
        tt.tag(1, 0); tt.varint(elem);
        tt.tag(2, 2); tt.nested((shape) => {
          for (const d of dims) {
            shape.tag(1, 2);
            shape.nested((dim) => {
              if (typeof d === 'number') { dim.tag(1, 0); dim.varint(d); } else str(dim, 2, d);
            });
          }
        });
      });
    });
  });
}

function node(g, op, inputs, outputs, attrs = {}) {
  g.tag(1, 2);
  g.nested((n) => {
    for (const i of inputs) str(n, 1, i);
    for (const o of outputs) str(n, 2, o);
    str(n, 3, `${op}_${outputs[0]}`);
    str(n, 4, op);
    for (const [k, v] of Object.entries(attrs)) {
      n.tag(5, 2);
      n.nested((a) => { str(a, 1, k); a.tag(3, 0); a.varint(v); a.tag(20, 0); a.varint(2); });  // INT attribute
    }
  });
}

function initializer(g, name, elem, dims, bytes) {
  g.tag(5, 2);
  g.nested((t) => {
    t.tag(1, 2); t.nested((d) => { for (const x of dims) d.varint(x); });
    t.tag(2, 0); t.varint(elem);
    str(t, 8, name);
    t.tag(9, 2); t.bytes(bytes);
  });
}

export const TOY_VOCAB = 259;

// Embedding row of token t: [t, 1000 + t] (exact in float32).
export function toyEmbedding(t) {
  return [t, 1000 + t];
}

export function toyStageModel() {
  const emb = new Float32Array(TOY_VOCAB * 2);
  for (let t = 0; t < TOY_VOCAB; ++t) [emb[2 * t], emb[2 * t + 1]] = toyEmbedding(t);
  const w = new ProtoWriter(8192);
  w.tag(1, 0); w.varint(8);
  str(w, 2, 'tessera-toy');
  w.tag(7, 2);
  w.nested((g) => {
    node(g, 'Gather', ['E', 'input_ids'], ['h']);
    node(g, 'Unsqueeze', ['h', 'axis0'], ['hu']);
    node(g, 'Concat', ['past_key_values.0.key', 'hu'], ['present.0.key'], { axis: 2 });
    node(g, 'Concat', ['past_key_values.0.value', 'hu'], ['present.0.value'], { axis: 2 });
    node(g, 'Cast', ['position_ids'], ['posf'], { to: FLOAT });
    node(g, 'Unsqueeze', ['posf', 'axis_last'], ['posu']);
    node(g, 'Add', ['h', 'posu'], ['hidden']);
    node(g, 'ReduceSum', ['present.0.key', 'axis2'], ['kv_sum'], { keepdims: 0 });
    node(g, 'Shape', ['attention_mask'], ['mask_shape']);
    node(g, 'Gather', ['mask_shape', 'one'], ['mask_len_scalar']);
    node(g, 'Unsqueeze', ['mask_len_scalar', 'axis0'], ['mask_len']);
    str(g, 2, 'toy');
    initializer(g, 'E', FLOAT, [TOY_VOCAB, 2], new Uint8Array(emb.buffer));
    initializer(g, 'axis0', INT64, [1], new Uint8Array(BigInt64Array.of(0n).buffer));
    initializer(g, 'axis_last', INT64, [1], new Uint8Array(BigInt64Array.of(-1n).buffer));
    initializer(g, 'axis2', INT64, [1], new Uint8Array(BigInt64Array.of(2n).buffer));
    initializer(g, 'one', INT64, [], new Uint8Array(BigInt64Array.of(1n).buffer));
    valueInfo(g, 11, 'input_ids', INT64, [1, 'sequence']);
    valueInfo(g, 11, 'attention_mask', INT64, [1, 'total_sequence']);
    valueInfo(g, 11, 'position_ids', INT64, [1, 'sequence']);
    valueInfo(g, 11, 'past_key_values.0.key', FLOAT, [1, 1, 'past_sequence', 2]);
    valueInfo(g, 11, 'past_key_values.0.value', FLOAT, [1, 1, 'past_sequence', 2]);
    valueInfo(g, 12, 'hidden', FLOAT, [1, 'sequence', 2]);
    valueInfo(g, 12, 'present.0.key', FLOAT, [1, 1, 'total_sequence', 2]);
    valueInfo(g, 12, 'present.0.value', FLOAT, [1, 1, 'total_sequence', 2]);
    valueInfo(g, 12, 'kv_sum', FLOAT, [1, 1, 2]);
    valueInfo(g, 12, 'mask_len', INT64, [1]);
  });
  w.tag(8, 2);
  w.nested((o) => { str(o, 1, ''); o.tag(2, 0); o.varint(17); });
  return w.finish();
}
