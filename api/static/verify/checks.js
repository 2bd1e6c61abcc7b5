// What a bundle's proven entries say (checks 3 to 10 of registry/bundle/verify.py), read as the
// Python reads them: registry/bundle/checks.py, status.py, witness_time.py and
// registry/admission/caution_rule.py.
"use strict";

const FORMAT = "provenance-ledger/bundle/v1";
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_LOGGED_AT_MS = 253402300799999; // 9999-12-31T23:59:59.999Z
const LATE_LOGGING_MS = 24 * 3600 * 1000; // registry/cautions.py
const COSIGNED_SKEW_MS = 61000, DEVICE_SLACK_MS = 300000, FAR_MS = 3600000; // witness_time.py

// registry/bundle/format.py parse_bundle: JSON in any formatting (indented, keys in any order,
// CRLF, a trailing newline), read strictly (readJson), with exactly these fields and each
// proven entry's index a non-negative integer. Formatting is safe to ignore because nothing
// here re-serialises or hashes the bundle's JSON: each entry is carried as base64 of the
// leaf's bytes (hashed as decoded), the checkpoint and proofs as strings compared as text;
// only a leaf's claim is re-encoded, as JCS, to check its signature (checkSignature).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function parseBundle(text) {
  const bundle = readJson(text, "the bundle");
  if (bundle === null || typeof bundle !== "object" || Array.isArray(bundle) || bundle.format !== FORMAT) {
    throw new Fail(`the bundle is not a ${FORMAT} document`);
  }
  const required = ["format", "log", "checkpoint", "capture", "device", "vendor"];
  const keys = Object.keys(bundle);
  if (!required.every((k) => k in bundle) || keys.some((k) => !required.includes(k) && k !== "revocations" && k !== "status")) {
    throw new Fail("the bundle's fields must be exactly format, log, checkpoint, capture, device, vendor, optionally revocations and status");
  }
  if ("revocations" in bundle && (!Array.isArray(bundle.revocations) || !(bundle.revocations.length >= 1 && bundle.revocations.length <= 1000))) {
    throw new Fail("the bundle's revocations must be a list of 1 to 1000 proven entries");
  }
  for (const part of [bundle.capture, bundle.device, bundle.vendor, ...(bundle.revocations || [])]) {
    const index = part !== null && typeof part === "object" && "index" in part ? part.index : 0;
    // readJson gives integers only; true, a string or -1 is no index either.
    if (!(typeof index === "number" || typeof index === "bigint") || index < 0) {
      throw new Fail(`a proven entry's 'index' must be a non-negative integer, got ${String(index).slice(0, 40)}`);
    }
  }
  // registry/bundle/format.py text_field: a string UTF-8 can encode.
  if (typeof bundle.checkpoint !== "string" || LONE_SURROGATE.test(bundle.checkpoint)) throw new Fail("the bundle's checkpoint must be a string of Unicode text");
  return bundle;
}

// --- entry fields (registry/bundle/checks.py check_fields; registry/entries/codec.py) --------

function need(obj, name, where) {
  if (!Object.prototype.hasOwnProperty.call(obj, name)) throw new Fail(`${where} is missing ${JSON.stringify(name)}`);
  return obj[name];
}
function hexField(obj, name, where, n) {
  const v = need(obj, name, where);
  if (typeof v !== "string" || v.length !== n || !/^[0-9a-f]+$/.test(v)) throw new Fail(`${where} '${name}' must be ${n} lowercase hex characters`);
  return v;
}
function intField(obj, name, where, lo = 0, hi = MAX_SAFE) {
  const v = need(obj, name, where);
  if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new Fail(`${where} '${name}' must be an integer from ${lo} to ${hi}`);
  return v;
}
function strField(obj, name, where, max = 200) {
  const v = need(obj, name, where);
  if (typeof v !== "string" || !v || v.length > max) throw new Fail(`${where} '${name}' must be a non-empty string of at most ${max} characters`);
  return v;
}
function b64Field(obj, name, where) {
  const v = need(obj, name, where);
  const bytes = b64(v, `${where} '${name}'`);
  if (!bytes.length) throw new Fail(`${where} '${name}' must be non-empty base64`);
  return bytes;
}
function onlyFields(obj, allowed, where) {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new Fail(`${where} has unknown fields ${unknown.sort().join(", ")}`);
}
const CLAIM = ["device", "counter", "captured_at", "media_type", "width", "height", "sha256", "pdq", "pdq_quality", "phash"];
function checkClaim(claim) {
  const w = "capture claim";
  if (claim === null || typeof claim !== "object" || Array.isArray(claim)) throw new Fail("capture 'claim' must be a JSON object");
  onlyFields(claim, [...CLAIM, "meta", "features", "firmware"], w);
  hexField(claim, "device", w, 64); intField(claim, "counter", w); intField(claim, "captured_at", w);
  strField(claim, "media_type", w, 100); intField(claim, "width", w, 1, 1e6); intField(claim, "height", w, 1, 1e6);
  hexField(claim, "sha256", w, 64); hexField(claim, "pdq", w, 64); intField(claim, "pdq_quality", w, 0, 100);
  hexField(claim, "phash", w, 16);
  if ("meta" in claim) hexField(claim, "meta", w, 64);
  if ("firmware" in claim && !(typeof claim.firmware === "string" && /^[\x20-\x7e]{1,100}$/.test(claim.firmware))) throw new Fail("capture claim 'firmware' must be 1 to 100 printable ASCII characters");
  if ("features" in claim) {
    const f = claim.features;
    if (f === null || typeof f !== "object" || Array.isArray(f) || Object.keys(f).length > 16) throw new Fail("capture claim 'features' must be an object of at most 16 hashes");
    for (const [k, v] of Object.entries(f)) {
      if (!/^[a-z0-9][a-z0-9./-]{0,63}$/.test(k) || typeof v !== "string" || !/^[0-9a-f]+$/.test(v) || v.length > 1024) throw new Fail(`capture claim 'features' ${JSON.stringify(k)} is malformed`);
    }
  }
}
function checkFields(entry) {
  const kind = entry.kind;
  intField(entry, "logged_at", kind, 0, MAX_LOGGED_AT_MS);
  if (kind === "capture/v1") {
    onlyFields(entry, ["kind", "logged_at", "claim", "sig"], kind);
    checkClaim(need(entry, "claim", kind)); b64Field(entry, "sig", kind);
  } else if (kind === "device/v1") {
    b64Field(entry, "cert", kind); hexField(entry, "vendor", kind, 64);
    const chain = need(entry, "chain", kind);
    if (!Array.isArray(chain)) throw new Fail(`${kind} 'chain' must be a list`);
    chain.forEach((c) => b64Field({ chain: c }, "chain", kind));
  } else if (kind === "vendor/v1") {
    strField(entry, "name", kind); strField(entry, "role", kind); b64Field(entry, "root", kind);
  } else if (kind === "revocation/v1") {
    onlyFields(entry, ["kind", "logged_at", "device", "compromised_since", "reason", "signer", "sig"], kind);
    hexField(entry, "device", kind, 64); intField(entry, "compromised_since", kind);
    strField(entry, "reason", kind, 500); hexField(entry, "signer", kind, 64); b64Field(entry, "sig", kind);
  }
}

// --- check 3: each part's entry in the checkpoint's tree --------------------------------------

const KINDS = ["vendor/v1", "device/v1", "capture/v1", "revocation/v1", "c2pa-capture/v1", "revocation/v2"];
async function checkInclusion(part, name, kind, note, checkpoint) {
  if (part === null || typeof part !== "object" || Object.keys(part).sort().join() !== "entry,index,proof") {
    throw new Fail(`bundle ${name} must have exactly index, entry and proof`);
  }
  if (typeof part.proof !== "string") throw new Fail(`bundle ${name} proof must be a string`);
  const proof = parseTlogProof(part.proof);
  if (proof.note !== note) throw new Fail(`the ${name} proof is against another checkpoint`);
  if (proof.index !== BigInt(part.index) || proof.extra) throw new Fail(`the ${name} proof is for index ${proof.index}, not ${part.index}`);
  const leaf = b64(String(part.entry), `${name} entry`);
  await verifyInclusion(leaf, proof.index, checkpoint.size, proof.hashes, checkpoint.root);
  let entry;
  try { entry = JSON.parse(UTF8.decode(leaf)); } catch (e) { throw new Fail("log entry is not JSON"); }
  if (entry === null || typeof entry !== "object" || !KINDS.includes(entry.kind)) throw new Fail("log entry has no known kind");
  const accepted = { "capture/v1": ["capture/v1", "c2pa-capture/v1"], "revocation/v1": ["revocation/v1", "revocation/v2"] }[kind] || [kind];
  if (!accepted.includes(entry.kind)) throw new Fail(`the ${name} entry is a ${entry.kind}, not a ${kind}`);
  if (entry.kind === "c2pa-capture/v1") throw new NotHere("a capture ingested from C2PA (c2pa-capture/v1): its COSE signature");
  checkFields(entry);
  entry._index = Number(proof.index);
  entry._leaf = leaf;
  return [`entry ${proof.index} is in the tree (${proof.hashes.length}-hash inclusion proof)`, entry];
}

// --- checks 4 and 5: links and the certificate chain ------------------------------------------

async function checkLinks(capture, device, vendor) {
  const certId = hex(await sha256(b64(device.cert, "device certificate")));
  const rootId = hex(await sha256(b64(vendor.root, "vendor root")));
  if (capture.claim.device !== certId) throw new Fail("the capture was not made by the bundle's device");
  if (device.vendor !== rootId) throw new Fail("the device does not belong to the bundle's vendor");
  return `capture -> device ${certId.slice(0, 16)}… -> vendor '${vendor.name}' (${vendor.role})`;
}
async function checkChain(device, vendor) {
  const cert = parseCertificate(b64(device.cert, "device certificate"));
  const root = parseCertificate(b64(vendor.root, "vendor root"));
  const chain = device.chain.map((c) => parseCertificate(b64(c, "chain certificate")));
  if (!root.ca || !sameBytes(root.issuer, root.subject)) throw new Fail("the vendor root is not a self-issued CA certificate");
  if (!(await issuedBy(root, root))) throw new Fail("the vendor root is not signed by its own key");
  if (cert.ca) throw new Fail("the device certificate is a CA certificate, not an end-entity one");
  const path = await chainPath(cert, chain, root, device.logged_at);
  const ids = [];
  for (const c of path) ids.push(hex(await sha256(c.der)));
  const day = iso(device.logged_at).slice(0, 10);
  return [`the device certificate chains to the vendor root by ${path.length} signature(s), valid when enrolled (${day})`, { cert, path, ids }];
}

// --- check 6: the status proof (docs/design.md 4.8; ledger/status.py, ledger/status_note.py) --

// The subjects a bundle must prove: the device, each CA on its verified path, the vendor root,
// sorted by id (registry/bundle/status.py required_subjects).
async function requiredSubjects(device, verified) {
  const whom = new Map([[hex(await sha256(verified.cert.der)), "the device"]]);
  verified.ids.slice(0, -1).forEach((id) => { if (!whom.has(id)) whom.set(id, `CA ${id.slice(0, 16)}…`); });
  const root = verified.ids[verified.ids.length - 1];
  if (!whom.has(root)) whom.set(root, "the vendor root");
  return new Map([...whom].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}
const bit = (key, d) => (key[d >> 3] >> (7 - (d & 7))) & 1;
// Status proof: u16 BE depth || depth x 32-byte sibling || 0x00 (empty), or
// 0x01 || 32-byte key || u16 BE count || count x u64 BE leaf index (ascending).
function parseStatusProof(data) {
  const bad = (why) => new Fail(`status proof ${why}`);
  if (data.length < 3) throw bad("is too short");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const depth = view.getUint16(0);
  if (depth > 256) throw bad("has more than 256 siblings");
  const end = 2 + 32 * depth;
  if (data.length <= end) throw bad("is truncated");
  const siblings = [];
  for (let i = 2; i < end; i += 32) siblings.push(data.slice(i, i + 32));
  if (data[end] === 0x00 && data.length === end + 1) return { siblings, key: null, indexes: [] };
  if (data[end] !== 0x01 || data.length < end + 35) throw bad("has a bad terminal");
  const key = data.slice(end + 1, end + 33), count = view.getUint16(end + 33);
  if (data.length !== end + 35 + 8 * count || count < 1) throw bad(`lists ${count} indexes in the wrong number of bytes`);
  const indexes = [];
  for (let i = 0; i < count; i++) indexes.push(Number(view.getBigUint64(end + 35 + 8 * i)));
  if (indexes.some((v, i) => i && v <= indexes[i - 1])) throw bad("lists indexes that are not ascending");
  return { siblings, key, indexes, value: data.slice(end + 33) };
}
// The leaf indexes `root` maps `subject` to (empty: absent), ledger/status.py verify_status.
async function verifyStatus(root, subject, proof) {
  const depth = proof.siblings.length;
  let node = new Uint8Array(32);
  if (proof.key) {
    for (let d = 0; d < depth; d++) if (bit(proof.key, d) !== bit(subject, d)) throw new Fail("the status proof ends in a leaf not on its path");
    node = await sha256(concat([0x00], proof.key, proof.value));
  }
  for (let d = depth - 1; d >= 0; d--) node = bit(subject, d) ? await nodeHash(proof.siblings[d], node) : await nodeHash(node, proof.siblings[d]);
  if (!sameBytes(node, root)) throw new Fail("the status proof does not lead to the status root");
  return proof.key && sameBytes(proof.key, subject) ? proof.indexes : [];
}
// "provenance-ledger/status/v1\n<origin>\n<size>\n<b64 root hash>\n<b64 status root>\n"
async function openStatus(note, key) {
  const lines = (await openNote(note, key)).split("\n");
  if (lines.length !== 6 || lines[5] !== "" || lines[0] !== "provenance-ledger/status/v1") throw new Fail("the status note is not five lines headed provenance-ledger/status/v1");
  const root = b64(lines[3], "the status note root hash"), status = b64(lines[4], "the status note status root");
  if (!lines[1] || root.length !== 32 || status.length !== 32) throw new Fail("the status note needs an origin and two 32-byte roots");
  if (lines[1] !== key.name) throw new Fail(`the status note is for origin '${lines[1]}', not for the log '${key.name}'`);
  return { origin: lines[1], size: decimal(lines[2], "the status note tree size"), root, status };
}
// The subjects a revocation leaf names (registry/entries/status_subjects.py).
function leafSubject(entry) {
  const field = { "revocation/v1": "device", "revocation/v2": "subject" }[entry.kind];
  return field && typeof entry[field] === "string" && /^[0-9a-f]{64}$/.test(entry[field]) ? entry[field] : null;
}
async function checkStatus(part, checkpoint, key, device, verified, revocations, witnessedMs) {
  const subjects = await requiredSubjects(device, verified);
  if (part === null || typeof part !== "object" || Object.keys(part).sort().join() !== "note,subjects") throw new Fail("bundle status must have exactly note and subjects");
  if (typeof part.note !== "string" || !Array.isArray(part.subjects) || part.subjects.length < 1 || part.subjects.length > 64) throw new Fail("bundle status must hold a note and 1 to 64 subjects");
  const proofs = part.subjects.map((item) => {
    if (item === null || typeof item !== "object" || Object.keys(item).sort().join() !== "proof,subject") throw new Fail("each bundle status subject must have exactly subject and proof");
    if (typeof item.subject !== "string" || !/^[0-9a-f]{64}$/.test(item.subject)) throw new Fail("a status subject must be 64 lowercase hex digits");
    return [item.subject, parseStatusProof(b64(item.proof, "status proof"))];
  });
  const c = await openStatus(part.note, key);
  if (c.size !== checkpoint.size || !sameBytes(c.root, checkpoint.root)) throw new Fail("the status note is for another checkpoint than the bundle's");
  if (proofs.map((p) => p[0]).join() !== [...subjects.keys()].join()) {
    throw new Fail("the bundle's status proofs are not exactly the device, each CA on its verified path and its vendor root, sorted");
  }
  const listed = new Map();
  for (const [subject, proof] of proofs) {
    for (const index of await verifyStatus(c.status, Uint8Array.from(subject.match(/../g), (h) => parseInt(h, 16)), proof)) {
      if (listed.has(index) && listed.get(index) !== subject) throw new Fail(`the status index lists log entry ${index} under two subjects`);
      listed.set(index, subject);
    }
  }
  const carried = revocations.map((r) => r._index);
  const missing = [...listed.keys()].filter((i) => !carried.includes(i)).sort((a, b) => a - b);
  if (missing.length) throw new Fail(`the status index lists revocation(s) at log entries ${missing.join(", ")} that the bundle does not carry: a revocation was left out`);
  const extra = carried.filter((i) => !listed.has(i));
  if (extra.length) throw new Fail(`the bundle carries log entries ${extra.join(", ")} as revocations, but the status index lists none of them`);
  if (carried.some((v, i) => i && v <= carried[i - 1])) throw new Fail("the bundle's revocations must be in log order, each once");
  for (const r of revocations) if (leafSubject(r) !== listed.get(r._index)) throw new Fail(`the revocation at log entry ${r._index} does not name the subject the status index lists it under`);
  const when = witnessedMs === null ? "its time unknown: no witness cosignature checked" : `witnessed by ${iso(witnessedMs)}`;
  const sorted = [...listed.keys()].sort((a, b) => a - b);
  const summary = sorted.length
    ? `${sorted.length} revocation(s): ` + sorted.map((i) => `log entry ${i} of ${subjects.get(listed.get(i))}`).join(", ")
    : "clean: no revocation of the device, its CAs or its vendor root";
  return `revocation status as of checkpoint ${checkpoint.size} (${when}): ${summary}`;
}

// --- check 7: the device's signature on the claim (registry/entries/signatures.py) ----------

async function checkSignature(capture, verified) {
  // "provenance-ledger/capture/v1\n" || JCS(claim) (registry/entries/codec.py capture_message)
  let message;
  try { message = concat(enc("provenance-ledger/capture/v1\n"), enc(dumps(capture.claim))); } catch (e) {
    throw new NotHere(`the claim holds ${e.message}, outside the JSON this page canonicalizes`);
  }
  const cert = verified.cert, params = keyParams(cert);
  if (params.name === "ECDSA" && params.namedCurve !== "P-256") throw new Fail("the device key is not ECDSA P-256 or Ed25519");
  if (!(await verifyWith(cert, "SHA-256", b64(capture.sig, "capture signature"), message))) {
    throw new Fail("the device's signature on the capture claim does not verify");
  }
  const at = capture.claim.captured_at;
  if (!(cert.notBefore <= at && at <= cert.notAfter)) throw new Fail("captured_at is outside the device certificate's validity");
  return "the device signed this claim, inside its certificate's validity";
}

// --- check 8: the times (registry/bundle/checks.py check_time; witness_time.py) --------------

function earliestPerWitness(cosigs) {
  const by = new Map();
  for (const c of cosigs) { const k = c.name + " " + c.id; if (!by.has(k) || c.ms < by.get(k).ms) by.set(k, c); }
  return [...by.values()].sort((a, b) => a.ms - b.ms || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
const who = (cs) => cs.map((c) => `${c.name} at ${iso(c.ms)}`).join(", ");
function median(xs) { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }
function checkTime(capture, logged, cosigs, required, size, times) {
  const capturedAt = capture.claim.captured_at;
  times.push(["captured", capturedAt, "the device says so, signed with its key"]);
  times.push(["logged", capture.logged_at, "the log operator says so"]);
  if (!cosigs.length) return "no witness vouches for the time (give the witnesses' keys to check their cosignatures)";
  const k = Math.max(1, required), earliest = earliestPerWitness(cosigs);
  const last = logged.reduce((a, b) => (b[1] > a[1] ? b : a));
  const existed = (at, vouchers) => {
    const named = vouchers.length === 1 ? `witness ${vouchers[0].name}`
      : `witnesses ${vouchers.map((c) => c.name).join(", ")} (${vouchers.length} of the ${new Set(cosigs.map((c) => c.name)).size} that cosigned)`;
    times.push(["existed no later than", at, `${named} cosigned the log at ${size} entries, which include it`]);
  };
  if (earliest.length >= k) {
    const kth = earliest[k - 1];
    if (kth.ms < capturedAt - DEVICE_SLACK_MS) { existed(kth.ms, earliest.slice(0, k)); throw new Fail(`${k} witnesses saw the capture logged before the device says it was captured (${iso(capturedAt)}): ${who(earliest.slice(0, k))}; the claimed capture time is false`); }
    if (last[1] - kth.ms > COSIGNED_SKEW_MS) { existed(kth.ms, earliest.slice(0, k)); throw new Fail(`the log says ${last[0]} was logged at ${iso(last[1])}, but ${k} witnesses cosigned a checkpoint of ${size} entries that includes it earlier (${who(earliest.slice(0, k))}): the log's time is false`); }
  }
  const good = [], outliers = [];
  for (const c of earliest) {
    if (c.ms < capturedAt - DEVICE_SLACK_MS) outliers.push(`${c.name} at ${iso(c.ms)} is before the claimed capture time ${iso(capturedAt)} (set aside)`);
    else if (last[1] - c.ms > COSIGNED_SKEW_MS) outliers.push(`${c.name} at ${iso(c.ms)} is before the log's time ${iso(last[1])} (set aside)`);
    else good.push(c);
  }
  for (const c of good) {
    const others = earliest.filter((o) => o !== c).map((o) => o.ms);
    if (others.length && Math.abs(c.ms - median(others)) > FAR_MS) outliers.push(`${c.name} at ${iso(c.ms)} is far from the other witnesses' times`);
  }
  if (good.length < k) {
    if (required === 0) return "no cosignature consistent with the capture's times (none required)";
    if (earliest.length >= k) existed(earliest[k - 1].ms, earliest.slice(0, k)); // as cosigned_bound
    throw new Fail(`only ${good.length} of the ${k} witnesses required gave a time consistent with the capture's: ${outliers.join("; ")}`);
  }
  existed(good[k - 1].ms, good.slice(0, k));
  return `existed no later than ${iso(good[k - 1].ms)}, by ${k} of the witnesses (${who(good.slice(0, k))})` + (outliers.length ? `; outliers: ${outliers.join("; ")}` : "");
}

// --- check 9: revocations as cautions (registry/admission/caution_rule.py) -------------------

// A revocation/v1 judged against the device (registry/admission/revocation_rules.py
// check_revocation_on_path): it names the device, and the CA that issued the device or the
// vendor root signed "provenance-ledger/revocation/v1\n" || JCS(body without sig, logged_at).
// revocation/v2 (scoped to CAs, vendors, firmware) is not ported: the page says so.
async function checkRevocation(entry, verified) {
  if (entry.kind !== "revocation/v1") throw new NotHere(`the scoped revocation (${entry.kind}) at log entry ${entry._index}`);
  const where = `the revocation at log entry ${entry._index}`;
  if (entry.device !== hex(await sha256(verified.cert.der))) throw new Fail(`${where} names another device`);
  const signers = [verified.path[0], verified.path[verified.path.length - 1]];
  const ids = [verified.ids[0], verified.ids[verified.ids.length - 1]];
  const ca = signers[ids.indexOf(entry.signer)];
  if (!ca) throw new Fail(`${where}: its signer is neither the vendor root nor the CA that issued the device`);
  const body = { kind: entry.kind, device: entry.device, compromised_since: entry.compromised_since, reason: entry.reason, signer: entry.signer };
  const message = concat(enc("provenance-ledger/revocation/v1\n"), enc(dumps(body)));
  const hash = keyParams(ca).namedCurve === "P-384" ? "SHA-384" : "SHA-256";
  if (!(await verifyWith(ca, hash, b64(entry.sig, "revocation signature"), message))) throw new Fail(`${where}: its signature does not verify with the key of CA ${entry.signer.slice(0, 16)}…`);
  return { index: entry._index, subject: entry.device, since: entry.compromised_since };
}
const describeRevocation = (r) => `device ${r.subject.slice(0, 16)}…, from ${iso(r.since).slice(0, 10)}`;
// capture_cautions for revocations of the device itself (each covers every capture of it).
function captureCautions(index, capturedAt, loggedAt, revocations) {
  const rs = [...revocations].sort((a, b) => a.index - b.index), out = [];
  const window = rs.filter((r) => capturedAt >= r.since), earlier = rs.filter((r) => r.index < index);
  if (window.length) {
    const since = Math.min(...window.map((r) => r.since));
    out.push({ code: "captured_in_compromise_window", evidence: window.map((r) => r.index),
      message: `captured ${iso(capturedAt)}, after the compromise the log's revocation at entry ${window[0].index} reports (${describeRevocation(window[0])}; since ${iso(since)}): anyone holding the key, or using the flaw, could have signed it` });
  }
  if (earlier.length) {
    out.push({ code: "logged_after_revocation", evidence: earlier.map((r) => r.index),
      message: `logged after the log already held a revocation covering it (log entry ${earlier[0].index}: ${describeRevocation(earlier[0])}): its capture time ${iso(capturedAt)} is only the word of a key that was reported compromised, and may be backdated` });
  }
  if (loggedAt - capturedAt > LATE_LOGGING_MS) {
    out.push({ code: "logged_late", evidence: [index],
      message: `logged ${Math.floor((loggedAt - capturedAt) / 3600000)} hours after the time the device claims: for that long, the capture time is only the device's word` });
  }
  return out;
}
