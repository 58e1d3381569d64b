// The presets' byte-level tokenizer (tokenizer.json {"tessera_tokenizer": "bytes"}):
// ids 0..255 are raw bytes, 256 bos, 257 eos, 258 pad.
export const BOS = 256;
export const EOS = 257;

export function encodeBytes(text) {
  return Array.from(new TextEncoder().encode(text));
}

// Text for display: printable ASCII as is, other bytes as \xNN, specials as <bos> etc.
export function escapeTokens(ids) {
  let s = '';
  for (const raw of ids) {
    const id = Number(raw);
    if (id === BOS) s += '<bos>';
    else if (id === EOS) s += '<eos>';
    else if (id >= 256) s += `<${id}>`;
    else if (id === 0x5c) s += '\\\\';
    else if (id === 0x0a) s += '\\n';
    else if (id >= 0x20 && id < 0x7f) s += String.fromCharCode(id);
    else s += `\\x${id.toString(16).padStart(2, '0')}`;
  }
  return s;
}
