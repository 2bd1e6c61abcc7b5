// The in-browser proof-bundle verifier: a second, independent implementation of
// registry/bundle/verify.py, run with WebCrypto (crypto.subtle) and nothing else. No network:
// the page's Content-Security-Policy forbids it, and nothing here asks for it.
//
// The checks are numbered as in verify_bundle; each returns the sentence it established or
// throws Fail with the sentence the user sees. Whatever this file does not understand (a
// C2PA-ingested capture, a revocation rule not ported here, an unknown field) fails closed: the
// verdict is never "clean" for something not checked here.
"use strict";

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const enc = (text) => new TextEncoder().encode(text);

class Fail extends Error {}
// A check this page cannot make: the verdict says so and is never clean.
class NotHere extends Error {}

// --- bytes -----------------------------------------------------------------------------------

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }

// Standard base64 (RFC 4648 4), canonical only, as ledger/encoding.py decode_base64: each byte
// string has exactly one encoding, so no character of a signed document can change unseen.
function b64(text, what) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new Fail(`${what} is not valid base64`);
  }
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (btoa(binaryString(bytes)) !== text) throw new Fail(`${what} is not canonical base64`);
  return bytes;
}
// Bytes as a string of code units 0-255, in chunks: a log entry can be larger than the
// argument count a single String.fromCharCode call accepts.
function binaryString(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}
// An ASCII decimal without sign or leading zeros (ledger/encoding.py parse_decimal).
function decimal(text, what) {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new Fail(`${what} ${JSON.stringify(text)} is not a decimal`);
  return BigInt(text);
}
// ISO 8601 UTC to the second, as registry/wording.py's iso_utc (and so the CLI) says it.
function iso(ms) {
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return `${ms} ms after 1970 (beyond the calendar)`;
  return d.toISOString().slice(0, 19) + "Z";
}

// --- JSON: reading a bundle strictly, and the claim's JCS -------------------------------------

// The bundle's JSON in any formatting, as registry/bundle/format.py _load reads it: Python's
// json grammar (whitespace is space, tab, CR, LF; no control character inside a string), but a
// key twice in one object, a fraction, an exponent, NaN or Infinity is refused, where
// JSON.parse would keep the last value or a float. Integers stay exact: a Number when safe, a
// BigInt beyond 2^53. Objects have no prototype, so "__proto__" is a key like any other.
const MAX_DEPTH = 1000; // Python refuses deeper nesting too (RecursionError); a bundle nests 4
const MAX_DIGITS = 4300; // Python's int() limit (sys.int_info.default_max_str_digits)
const JSON_ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
function readJson(text, what) {
  let at = 0;
  const bad = (why) => new Fail(`${what} is not JSON: ${why} at character ${at}`);
  const space = () => { while (at < text.length && " \t\n\r".includes(text[at])) at++; };
  const expect = (c) => { if (text[at] !== c) throw bad(`expected '${c}'`); at++; };
  function string() {
    expect('"');
    let out = "";
    for (;;) {
      const c = text[at++];
      if (c === undefined) throw bad("an unterminated string");
      if (c === '"') return out;
      if (c < " ") throw bad("a control character in a string");
      if (c !== "\\") { out += c; continue; }
      const e = text[at++];
      if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4))) { out += String.fromCharCode(parseInt(text.slice(at, at + 4), 16)); at += 4; }
      else if (e in JSON_ESCAPES) out += JSON_ESCAPES[e];
      else throw bad("an invalid escape");
    }
  }
  function number() {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(at, at + MAX_DIGITS + 400));
    if (!m) throw bad("an unexpected character");
    if (m[2] || m[3]) throw new Fail(`${what} holds the number ${m[0].slice(0, 40)}, which is not an integer; every number in a bundle is one`);
    if (m[1].length > MAX_DIGITS) throw bad(`an integer of more than ${MAX_DIGITS} digits`);
    at += m[0].length;
    const n = BigInt(m[0]); // "-0" is 0, as in Python
    return n >= -BigInt(Number.MAX_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  function value(depth) {
    if (depth > MAX_DEPTH) throw bad(`nesting deeper than ${MAX_DEPTH}`);
    space();
    const c = text[at];
    if (c === "{" || c === "[") {
      const obj = c === "{", out = obj ? Object.create(null) : [];
      at++; space();
      if (text[at] === (obj ? "}" : "]")) { at++; return out; }
      for (;;) {
        if (obj) {
          space();
          const key = string();
          if (Object.prototype.hasOwnProperty.call(out, key)) throw new Fail(`${what} has the key ${JSON.stringify(key).slice(0, 80)} twice in one object; a bundle names each once`);
          space(); expect(":");
          out[key] = value(depth + 1);
        } else out.push(value(depth + 1));
        space();
        if (text[at] === ",") { at++; continue; }
        expect(obj ? "}" : "]");
        return out;
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, at)) { at += word.length; return v; }
    }
    if (text.startsWith("NaN", at) || /^-?Infinity/.test(text.slice(at, at + 9))) {
      throw new Fail(`${what} holds ${text.slice(at, at + 9).match(/^-?\w+/)[0]}, which is not an integer; every number in a bundle is one`);
    }
    return number();
  }
  const out = value(0);
  space();
  if (at !== text.length) throw bad("more after the JSON document");
  return out;
}

// RFC 8785 JCS, for the values a signed claim or revocation body can hold: ASCII keys, safe
// integers, strings (then it is Python's json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=False), as registry/entries/codec.py canonical says). Anything else (floats,
// booleans, null, non-ASCII keys) is not checked here. Only leaves' contents pass through it:
// the bundle's own JSON is never re-serialised (see checks.js parseBundle).
function dumps(value) {
  if (typeof value === "string") return quote(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new NotHere("a number that is not a safe integer");
    return String(value);
  }
  if (Array.isArray(value)) return "[" + value.map(dumps).join(",") + "]";
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.some((k) => !/^[\x20-\x7e]*$/.test(k))) throw new NotHere("a non-ASCII JSON key");
    // ASCII keys: JCS's UTF-16 order is the code-point order of the default sort.
    return "{" + keys.sort().map((k) => quote(k) + ":" + dumps(value[k])).join(",") + "}";
  }
  throw new NotHere(`a JSON ${value === null ? "null" : typeof value}`);
}
const ESCAPES = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };
function quote(text) {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text[i], code = text.charCodeAt(i);
    if (ESCAPES[c]) out += ESCAPES[c];
    else if (code < 0x20) out += "\\u" + code.toString(16).padStart(4, "0");
    else if (code >= 0xd800 && code <= 0xdfff) throw new NotHere("a string with a surrogate");
    else out += c;
  }
  return out + '"';
}

// --- C2SP signed notes, checkpoints, cosignatures ---------------------------------------------

// A vkey `<name>+<hex key id>+<base64(type || 32-byte Ed25519 key)>`; the key id is
// SHA-256(name || 0x0A || type || key)[:4] (C2SP signed-note; ledger/note.py key_id).
// type 0x01: a log's key; 0x04: a witness's cosigning key (C2SP tlog-cosignature).
async function parseVkey(vkey, type, what) {
  const text = vkey.trim();
  const a = text.indexOf("+"), b = text.indexOf("+", a + 1);
  if (a < 1 || b < 0) throw new Fail(`the ${what} key is not of the form <name>+<hex key id>+<base64 key>`);
  const name = text.slice(0, a), id = text.slice(a + 1, b), key = b64(text.slice(b + 1), `the ${what} public key`);
  if (/[\s\x00-\x1f\x7f]/.test(name)) throw new Fail(`the ${what} key name must be printable, with no spaces`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Fail(`the ${what} key id must be 8 hex digits`);
  if (key.length !== 33 || key[0] !== type) {
    throw new Fail(`the ${what} key must be 0x0${type} followed by a 32-byte Ed25519 key`);
  }
  const pub = key.slice(1);
  const want = (await sha256(concat(enc(name), [0x0a, type], pub))).slice(0, 4);
  if (hex(want) !== id) throw new Fail(`the ${what} key's id does not match its key`);
  return { name, id, pub, cryptoKey: await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]) };
}

// A note: text ending in "\n", a blank line, then lines "— <name> <base64(key id[4] || sig)>".
function parseNote(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Fail("the note has no blank line between its text and its signatures");
  const text = note.slice(0, split + 1), block = note.slice(split + 2);
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) throw new Fail("the note text holds a control character");
  if (!block.endsWith("\n")) throw new Fail("the note's signature block must end with a newline");
  const signatures = block.slice(0, -1).split("\n").map((line) => {
    if (!line.startsWith("\u2014 ")) throw new Fail("a note signature line does not start with an em dash");
    const rest = line.slice(2), space = rest.indexOf(" ");
    if (space < 1) throw new Fail("a note signature line has no signature after the name");
    const raw = b64(rest.slice(space + 1), "a note signature");
    if (raw.length < 5) throw new Fail("a note signature is too short to hold a key id");
    return { name: rest.slice(0, space), id: hex(raw.slice(0, 4)), sig: raw.slice(4) };
  });
  return { text, signatures };
}

// ledger/note.py open_note: a bad signature by the known key rejects the note; so does none.
async function openNote(note, key) {
  const parsed = parseNote(note);
  let signed = false;
  for (const s of parsed.signatures) {
    if (s.name !== key.name || s.id !== key.id) continue;
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, key.cryptoKey, s.sig, enc(parsed.text)))) {
      throw new Fail(`note signature by ${s.name} does not verify`);
    }
    signed = true;
  }
  if (!signed) throw new Fail(`note is not signed by any known key (${key.name})`);
  return parsed.text;
}

// C2SP tlog-checkpoint: "<origin>\n<size>\n<base64 root hash>\n" then extension lines.
function parseCheckpoint(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || !lines[0]) throw new Fail("the checkpoint needs an origin, a size and a root hash");
  const root = b64(lines[2], "the checkpoint root hash");
  if (root.length !== 32) throw new Fail("the checkpoint root hash is not 32 bytes");
  if (lines.slice(3).some((l) => !l)) throw new Fail("checkpoint extension lines must not be empty");
  return { origin: lines[0], size: decimal(lines[1], "the checkpoint tree size"), root, body: text };
}

// C2SP tlog-cosignature v1: key id type 0x04; the signature is u64 BE timestamp || Ed25519 over
// "cosignature/v1\ntime <timestamp>\n" || checkpoint body. Returns each given witness's.
async function cosignatures(note, witnesses) {
  const parsed = parseNote(note), found = [];
  for (const s of parsed.signatures) {
    const w = witnesses.find((k) => k.name === s.name && k.id === s.id);
    if (!w) continue;
    if (s.sig.length !== 72) throw new Fail(`cosignature by ${w.name} is ${s.sig.length} bytes, not 72`);
    const ts = new DataView(s.sig.buffer, s.sig.byteOffset).getBigUint64(0);
    if (ts > 2n ** 63n - 1n) throw new Fail(`cosignature by ${w.name} has a timestamp above 2^63 - 1`);
    const message = enc(`cosignature/v1\ntime ${ts}\n${parsed.text}`);
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, w.cryptoKey, s.sig.slice(8), message))) {
      throw new Fail(`cosignature by ${w.name} does not verify`);
    }
    found.push({ name: w.name, id: w.id, ms: Number(ts) * 1000 });
  }
  return found;
}

// --- RFC 9162 Merkle inclusion, C2SP tlog-proof -----------------------------------------------

// c2sp.org/tlog-proof@v1 \n [extra <b64>] \n index <N> \n <b64 hash>... \n\n <checkpoint note>
function parseTlogProof(text) {
  const split = text.indexOf("\n\n");
  if (split < 0 || split + 2 >= text.length) throw new Fail("the tlog-proof has no blank line before its checkpoint");
  const lines = text.slice(0, split).split("\n");
  if (lines[0] !== "c2sp.org/tlog-proof@v1") throw new Fail("the tlog-proof must start with c2sp.org/tlog-proof@v1");
  let pos = 1, extra = false;
  if (lines[pos] && lines[pos].startsWith("extra ")) { b64(lines[pos].slice(6), "tlog-proof extra"); extra = true; pos++; }
  if (!lines[pos] || !lines[pos].startsWith("index ")) throw new Fail("the tlog-proof is missing its index line");
  const index = decimal(lines[pos].slice(6), "the tlog-proof index");
  const hashes = lines.slice(pos + 1).map((l) => b64(l, "a tlog-proof hash"));
  return { index, hashes, extra, note: text.slice(split + 2) };
}

const nodeHash = (l, r) => sha256(concat([0x01], l, r)); // RFC 9162 2.1.1
// The proof length RFC 9162 2.1.3.1 gives leaf `index` of `size` (ledger/merkle.py).
function proofLength(index, size) {
  let lo = 0n, hi = size, n = 0;
  while (hi - lo > 1n) {
    let k = 1n; while (k * 2n < hi - lo) k *= 2n;
    if (index < lo + k) hi = lo + k; else lo += k;
    n++;
  }
  return n;
}
// RFC 9162 2.1.3.2.
async function verifyInclusion(leaf, index, size, proof, root) {
  if (proof.some((h) => h.length !== 32)) throw new Fail("an inclusion proof hash is not 32 bytes");
  if (index >= size) throw new Fail(`leaf index ${index} is not in a tree of size ${size}`);
  if (proof.length !== proofLength(index, size)) throw new Fail(`the inclusion proof for leaf ${index} has the wrong length`);
  let fn = index, sn = size - 1n, r = await sha256(concat([0x00], leaf));
  for (const p of proof) {
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n || !sameBytes(r, root)) {
    throw new Fail(`inclusion proof for leaf ${index} does not lead to the root of the tree of size ${size}`);
  }
}
