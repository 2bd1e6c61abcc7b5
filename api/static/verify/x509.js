// A minimal DER reader and what check 5 needs of X.509 (RFC 5280 4.1): the TBS bytes, the
// issuer and subject names (compared as bytes), the validity dates, the SubjectPublicKeyInfo,
// the signature algorithm and value, and basicConstraints' cA flag. Nothing else is interpreted:
// the certificate profile (key usage, EKUs) is what the log's admission enforced, and
// `prov verify` re-checks it in full.
"use strict";

// One TLV (X.690 8.1): tag byte, definite length (short or long form), contents.
function derRead(bytes, at) {
  if (at + 2 > bytes.length) throw new Fail("a certificate is truncated");
  const tag = bytes[at];
  if ((tag & 0x1f) === 0x1f) throw new Fail("a certificate uses a multi-byte DER tag");
  let len = bytes[at + 1], head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + 2 + n > bytes.length) throw new Fail("a certificate has a bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[at + 2 + i];
    head += n;
  }
  const end = at + head + len;
  if (end > bytes.length) throw new Fail("a certificate is truncated");
  return { tag, start: at, body: at + head, end, bytes: bytes.subarray(at, end), content: bytes.subarray(at + head, end) };
}
// The TLVs inside a constructed one; offsets stay those of the whole certificate.
function childrenOf(root, tlv) {
  const out = [];
  for (let at = tlv.body; at < tlv.end;) { const c = derRead(root, at); out.push(c); at = c.end; }
  return out;
}
// An OBJECT IDENTIFIER's dotted form (X.690 8.19).
function oid(content) {
  const parts = [Math.floor(content[0] / 40), content[0] % 40];
  let v = 0;
  for (const b of content.subarray(1)) { v = v * 128 + (b & 0x7f); if (!(b & 0x80)) { parts.push(v); v = 0; } }
  return parts.join(".");
}
// UTCTime YYMMDDHHMMSSZ (years 1950-2049, RFC 5280 4.1.2.5.1) or GeneralizedTime YYYYMMDDHHMMSSZ.
function derTime(tlv) {
  const s = String.fromCharCode(...tlv.content);
  const m = tlv.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  if (!m || (tlv.tag !== 0x17 && tlv.tag !== 0x18)) throw new Fail("a certificate has a validity date that is not UTC");
  let year = Number(m[1]);
  if (tlv.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

const OID = {
  ecPublicKey: "1.2.840.10045.2.1", p256: "1.2.840.10045.3.1.7", p384: "1.3.132.0.34",
  ed25519: "1.3.101.112", ecdsaSha256: "1.2.840.10045.4.3.2", ecdsaSha384: "1.2.840.10045.4.3.3",
  basicConstraints: "2.5.29.19",
};

// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
// TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, validity, subject,
//                               subjectPublicKeyInfo, ..., [3] extensions }
function parseCertificate(der) {
  const top = derRead(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new Fail("a certificate is not one DER SEQUENCE");
  const [tbs, sigAlg, sigValue] = childrenOf(der, top);
  if (!tbs || !sigValue || sigValue.tag !== 0x03 || sigValue.content[0] !== 0) throw new Fail("a certificate is malformed");
  let fields = childrenOf(der, tbs);
  if (fields[0].tag === 0xa0) fields = fields.slice(1);
  const [, , issuer, validity, subject, spki] = fields;
  const [notBefore, notAfter] = childrenOf(der, validity).map(derTime);
  const spkiAlg = childrenOf(der, childrenOf(der, spki)[0]).map((t) => t.tag === 0x06 ? oid(t.content) : null);
  let ca = false;
  const extensions = fields.find((f) => f.tag === 0xa3);
  if (extensions) {
    for (const ext of childrenOf(der, childrenOf(der, extensions)[0])) {
      const parts = childrenOf(der, ext);
      if (oid(parts[0].content) !== OID.basicConstraints) continue;
      const value = derRead(der, parts[parts.length - 1].body);
      const flags = childrenOf(der, value);
      ca = flags.length > 0 && flags[0].tag === 0x01 && flags[0].content[0] !== 0;
    }
  }
  return {
    der, tbs: tbs.bytes, issuer: issuer.bytes, subject: subject.bytes, notBefore, notAfter, ca,
    spki: spki.bytes, keyAlg: spkiAlg[0], curve: spkiAlg[1],
    sigAlg: oid(childrenOf(der, sigAlg)[0].content), signature: sigValue.content.subarray(1),
  };
}

// The WebCrypto import and verify parameters of a certificate's key; anything else (RSA, other
// curves) fails closed.
function keyParams(cert) {
  if (cert.keyAlg === OID.ed25519) return { name: "Ed25519" };
  if (cert.keyAlg === OID.ecPublicKey && cert.curve === OID.p256) return { name: "ECDSA", namedCurve: "P-256", size: 32 };
  if (cert.keyAlg === OID.ecPublicKey && cert.curve === OID.p384) return { name: "ECDSA", namedCurve: "P-384", size: 48 };
  throw new NotHere("a certificate key that is not Ed25519, ECDSA P-256 or P-384");
}
async function publicKey(cert) {
  const p = keyParams(cert);
  return { params: p, key: await crypto.subtle.importKey("spki", cert.spki, p, false, ["verify"]) };
}
// Verify `signature` (raw r || s for ECDSA, as WebCrypto wants it) by `cert`'s key.
async function verifyWith(cert, hash, signature, message) {
  const { params, key } = await publicKey(cert);
  if (params.name === "Ed25519") return signature.length === 64 && crypto.subtle.verify(params, key, signature, message);
  if (signature.length !== 2 * params.size) return false;
  return crypto.subtle.verify({ name: "ECDSA", hash }, key, signature, message);
}
// Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 5480) -> r || s, each left-padded.
function rawEcdsa(der, size) {
  const seq = derRead(der, 0);
  const ints = childrenOf(der, seq);
  if (seq.tag !== 0x30 || seq.end !== der.length || ints.length !== 2 || ints.some((i) => i.tag !== 0x02)) return null;
  const out = new Uint8Array(2 * size);
  for (const [n, i] of ints.entries()) {
    let v = i.content;
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) return null;
    out.set(v, (n + 1) * size - v.length);
  }
  return out;
}
// Did `issuer` sign `cert`? Names must match byte for byte, and the signature verify.
async function issuedBy(cert, issuer) {
  if (!sameBytes(cert.issuer, issuer.subject)) return false;
  const params = keyParams(issuer);
  if (cert.sigAlg === OID.ed25519) return params.name === "Ed25519" && verifyWith(issuer, null, cert.signature, cert.tbs);
  const hash = { [OID.ecdsaSha256]: "SHA-256", [OID.ecdsaSha384]: "SHA-384" }[cert.sigAlg];
  if (!hash || params.name !== "ECDSA") throw new NotHere(`a certificate signature algorithm ${cert.sigAlg}`);
  const raw = rawEcdsa(cert.signature, params.size);
  return raw !== null && verifyWith(issuer, hash, raw, cert.tbs);
}
// The device's path to the root, by signatures: each certificate issued by the next (found among
// the logged chain), the root last; every CA a CA (basicConstraints), every certificate valid at
// `at` (the device's enrolment), as the X.509 verifier in registry/admission/certs.py requires.
async function chainPath(device, chain, root, at) {
  const path = [];
  let cert = device;
  for (let depth = 0; depth <= 8; depth++) {
    if (await issuedBy(cert, root)) {
      path.push(root);
      for (const c of [device, ...path]) {
        if (!(c.notBefore <= at && at <= c.notAfter)) throw new Fail(`a certificate on the device's path was not valid at enrolment (${iso(at)})`);
      }
      if (path.some((c) => !c.ca)) throw new Fail("a certificate above the device is not a CA (basicConstraints)");
      return path;
    }
    let next = null;
    for (const c of chain) if (!path.includes(c) && (await issuedBy(cert, c))) { next = c; break; }
    if (!next) throw new Fail("the device certificate does not chain to the vendor root: a signature on its path does not verify");
    path.push(next);
    cert = next;
  }
  throw new Fail("the device's certificate path is longer than 8 CAs");
}
