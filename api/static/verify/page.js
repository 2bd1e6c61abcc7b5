// Running the checks in verify_bundle's order (registry/bundle/verify.py), and the page around
// them. The first failure ends the run, as in Python: later checks would be noise.
"use strict";

const CHECK_NUMBERS = {
  "checkpoint signature": 1, "witness cosignatures": 2, "capture inclusion": 3, "device inclusion": 3,
  "vendor inclusion": 3, "revocation inclusion": 3, "entries refer to each other": 4,
  "device certificate chain": 5, "revocation status": 6, "device signature on the claim": 7,
  "time evidence": 8, "revocations": 9, "image matches the capture": 10,
};

// The verdict of one bundle: {checks: [{n, name, ok, detail}], times, cautions, verdict, failedAt}.
// verdict: "clean", "cautions", "failed" (at check failedAt) or "incomplete" (a check this page
// cannot make: never clean, and `prov verify` decides).
// The bundle is bundleBytes (a file's, decoded here) or else bundleText.
async function verifyBundle({ bundleText, bundleBytes = null, logKey, witnessKeys = [], minWitnesses = null, image = null }) {
  const run = { checks: [], times: [], cautions: [], notHere: null };
  const step = async (name, fn) => {
    try {
      const out = await fn();
      const [detail, value] = Array.isArray(out) ? out : [out, undefined];
      run.checks.push({ n: CHECK_NUMBERS[name], name, ok: true, detail });
      return { ok: true, value };
    } catch (e) {
      if (e instanceof NotHere) {
        run.notHere = `${e.message} is not checked here: use prov verify`;
        run.checks.push({ n: CHECK_NUMBERS[name], name, ok: null, detail: run.notHere });
      } else {
        run.checks.push({ n: CHECK_NUMBERS[name], name, ok: false, detail: e instanceof Fail ? e.message : `${e.name}: ${e.message}` });
      }
      return { ok: false };
    }
  };
  await body(run, step, { bundleText, bundleBytes, logKey, witnessKeys, minWitnesses, image });
  return finish(run);
}

function finish(run) {
  const failed = run.checks.find((c) => c.ok === false);
  let verdict = "clean";
  if (run.malformed) verdict = "malformed"; // bad input, kept apart from a failed verification
  else if (failed) verdict = "failed";
  else if (run.notHere) verdict = "incomplete";
  else if (run.cautions.length) verdict = "cautions";
  return { ...run, verdict, failedAt: failed ? failed.n : null };
}

async function body(run, step, input) {
  let bundle, key, witnesses;
  // Input that is not a bundle or a key is malformed input, not a failed verification.
  try {
    bundle = parseBundle(input.bundleBytes ? decodeBundle(input.bundleBytes) : input.bundleText);
    key = await parseVkey(input.logKey, 0x01, "log");
    witnesses = [];
    for (const w of input.witnessKeys) witnesses.push(await parseVkey(w, 0x04, "witness"));
  } catch (e) {
    run.malformed = e.message;
    run.checks.push({ n: 0, name: "reading the input", ok: false, detail: e.message });
    return;
  }
  const note = bundle.checkpoint;
  // 1. The checkpoint is the log's, signed by its key.
  const cp = await step("checkpoint signature", async () => {
    if (bundle.log !== key.name) throw new Fail(`bundle is for the log '${bundle.log}', not '${key.name}'`);
    const c = parseCheckpoint(await openNote(note, key));
    if (c.origin !== key.name) throw new Fail(`checkpoint is for origin '${c.origin}', not for the log '${key.name}'`);
    return [`signed by ${key.name} at tree size ${c.size}`, c];
  });
  if (!cp.ok) return;
  const checkpoint = cp.value;
  // 2. Enough of the given witnesses cosigned it (only when witnesses are given).
  const required = witnesses.length ? (input.minWitnesses ?? 1) : (input.minWitnesses ?? 0);
  let cosigs = [];
  if (witnesses.length || required) {
    const w = await step("witness cosignatures", async () => {
      const found = await cosignatures(note, witnesses);
      const names = [...new Set(found.map((c) => c.name))].sort();
      if (names.length < required) throw new Fail(`${names.length} of the ${required} witnesses required cosigned the checkpoint${names.length ? ": " + names.join(", ") : ""}`);
      return [found.map((c) => `${c.name} at ${iso(c.ms)}`).join(", ") || "no cosignature by the given witnesses (none required)", found];
    });
    if (!w.ok) return;
    cosigs = w.value;
  } else {
    // Not "ok": nothing was checked, and the verdict says nothing about witnesses.
    run.checks.push({ n: 2, name: "witness cosignatures", ok: "none", detail: "none given (paste witness keys to check their cosignatures)" });
  }
  // 3. Each part's entry is in the checkpoint's tree, of the kind its place says.
  const parts = [["capture", "capture", "capture/v1"], ["device", "device", "device/v1"], ["vendor", "vendor", "vendor/v1"]];
  (bundle.revocations || []).forEach((p) => parts.push([p, "revocation", "revocation/v1"]));
  const entries = {}, revocations = [];
  for (const [which, name, kind] of parts) {
    const part = typeof which === "string" ? bundle[which] : which;
    const r = await step(`${name} inclusion`, () => {
      // Beyond 2^53 (a BigInt) is no index of a real log: Python's proof check fails it too.
      if (typeof (part && part.index) === "bigint") throw new Fail(`bundle ${name} index ${part.index} is beyond any log's size`);
      return checkInclusion(part, name, kind, note, checkpoint);
    });
    if (!r.ok) return;
    if (name === "revocation") revocations.push(r.value); else entries[name] = r.value;
  }
  await verifyEntries(run, step, bundle, entries, revocations, { checkpoint, key, cosigs, required }, input.image);
}

async function verifyEntries(run, step, bundle, { capture, device, vendor }, revocations, signed, image) {
  const { checkpoint, key, cosigs, required } = signed;
  // 4. capture -> device -> vendor, by the hashes the entries carry.
  if (!(await step("entries refer to each other", () => checkLinks(capture, device, vendor))).ok) return;
  // 5. The device certificate chains to the vendor root, valid when enrolled.
  const chain = await step("device certificate chain", () => checkChain(device, vendor));
  if (!chain.ok) return;
  // 6. The revocations carried are all the log holds against the device's path, or unproven.
  const earliest = earliestPerWitness(cosigs);
  const witnessedMs = earliest.length >= Math.max(1, required) ? earliest[Math.max(1, required) - 1].ms : null;
  if (!("status" in bundle)) {
    run.checks.push({ n: 6, name: "revocation status", ok: true, detail: "not proven: the bundle carries no status proof, so its revocations may be partial" });
    run.cautions.push({ code: "revocation_status_unproven", evidence: [], message: `the bundle proves no revocation status (it carries no status proof for checkpoint ${checkpoint.size}): a revocation of the device, its CAs or its vendor root may have been left out; verify it with --refresh URL against the log, or fetch a fresh bundle` });
  } else if (!(await step("revocation status", () => checkStatus(bundle.status, checkpoint, key, device, chain.value, revocations, witnessedMs))).ok) return;
  // 7. The device signed the claim, inside its certificate's validity.
  if (!(await step("device signature on the claim", () => checkSignature(capture, chain.value))).ok) return;
  // 8. Who vouches for when the capture existed (recorded even when the check fails).
  const logged = [["the capture entry", capture.logged_at], ["the device entry", device.logged_at], ["the vendor entry", vendor.logged_at]];
  if (!(await step("time evidence", async () => checkTime(capture, logged, cosigs, required, Number(checkpoint.size), run.times))).ok) return;
  // 9. The revocations, each signed by a CA on the device's path, applied as cautions.
  const index = bundle.capture.index, claim = capture.claim;
  if (revocations.length) {
    const r = await step("revocations", async () => {
      const applied = [];
      for (const entry of revocations) applied.push(await checkRevocation(entry, chain.value));
      run.cautions.push(...captureCautions(index, claim.captured_at, capture.logged_at, applied));
      return `${applied.length} revocation(s) of the device, each signed by a CA on its path: ` + applied.map((a) => `log entry ${a.index}: ${describeRevocation(a)}`).join("; ");
    });
    if (!r.ok) return;
  } else {
    run.cautions.push(...captureCautions(index, claim.captured_at, capture.logged_at, []));
  }
  // 10. The image given is the registered file: its SHA-256 (exact matches only, here).
  if (image) {
    await step("image matches the capture", async () => {
      if (hex(await sha256(image)) !== claim.sha256) {
        throw new Fail("the image is not the registered file (its SHA-256 differs); a near-duplicate (re-encoded, resized, cropped) needs prov verify --image");
      }
      return "the image is the registered file (same SHA-256)";
    });
  }
}

// --- the page ---------------------------------------------------------------------------------

const PIN = "prov-verify-log-key";
const $ = (id) => document.getElementById(id);
// A bundle's bytes as text, decoded as Python's json.loads(bytes) decodes them
// (json.detect_encoding): UTF-8, with or without a BOM, or UTF-16 (a BOM, or a zero byte where
// ASCII text in UTF-16 has one). Not File.text(): it would turn bytes that are not UTF-8 into
// U+FFFD, where Python refuses them. UTF-32, which TextDecoder does not read, is refused.
function decodeBundle(bytes) {
  const [a, b, c, d] = bytes, n = bytes.length;
  let label = "utf-8";
  if ((a === 0xff && b === 0xfe && c === 0 && d === 0) || (a === 0 && b === 0 && c === 0xfe && d === 0xff)) label = null;
  else if ((a === 0xfe && b === 0xff) || (a === 0xff && b === 0xfe)) label = a === 0xfe ? "utf-16be" : "utf-16le";
  else if (a === 0xef && b === 0xbb && c === 0xbf) label = "utf-8";
  else if (n >= 4 && a === 0) label = b ? "utf-16be" : null;
  else if (n >= 4 && b === 0) label = c || d ? "utf-16le" : null;
  else if (n === 2 && (a === 0 || b === 0)) label = a === 0 ? "utf-16be" : "utf-16le";
  if (!label) throw new Fail("the bundle file is UTF-32: save it as UTF-8");
  try { return new TextDecoder(label, { fatal: true }).decode(bytes); } catch (e) { throw new Fail(`the bundle file is not ${label.toUpperCase()} text`); }
}
const readBytes = async (file) => new Uint8Array(await file.arrayBuffer());

function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }

function render(result) {
  const out = $("result");
  out.replaceChildren();
  const verdict = el("p", "", "verdict " + result.verdict);
  verdict.id = "verdict";
  verdict.dataset.verdict = result.verdict;
  verdict.dataset.failedCheck = result.failedAt ?? "";
  verdict.dataset.cautions = result.cautions.map((c) => c.code).join(",");
  verdict.textContent = {
    clean: "Bundle verified: clean.",
    cautions: `Bundle verified, with cautions: ${result.cautions.length} listed below.`,
    malformed: `Nothing was verified: ${result.malformed}. Check what was pasted or chosen.`,
    failed: `Bundle does NOT verify: failed at check ${result.failedAt}.`,
    incomplete: `Not fully checked here: ${result.notHere}. This is not a clean verdict.`,
  }[result.verdict];
  out.append(verdict);
  // Cautions come first: they are what the log knows against the capture.
  if (result.cautions.length) {
    const list = el("ul", undefined, "cautions");
    for (const c of result.cautions) list.append(el("li", `caution ${c.code}: ${c.message}`));
    out.append(list);
  }
  const checks = el("ul", undefined, "checks");
  for (const c of result.checks) {
    const mark = { true: "ok: ", false: "FAILED: ", none: "" }[c.ok] ?? "not checked here: ";
    const item = el("li", `${c.n} ${c.name}: ${mark}${c.detail}`, c.ok === true ? "ok" : c.ok === false ? "failed" : "neutral");
    if (c.ok !== "none") item.dataset.check = c.name;
    checks.append(item);
  }
  out.append(checks);
  if (result.times.length) {
    const times = el("ul", undefined, "times");
    for (const [what, at, by] of result.times) times.append(el("li", `${what} ${iso(at)} (${by})`));
    out.append(el("h3", "Times"), times);
  }
}

async function onVerify() {
  $("result").replaceChildren(el("p", "Checking…"));
  if (!window.crypto || !crypto.subtle) {
    $("result").replaceChildren(el("p", "This browser offers no WebCrypto here: open the page from a file, or from https.", "verdict failed"));
    return;
  }
  const bundleFile = $("bundle-file").files[0], imageFile = $("image-file").files[0];
  const logKey = $("log-key").value.trim();
  try { if ($("pin").checked) localStorage.setItem(PIN, logKey); } catch (e) { /* storage off: nothing pinned */ }
  const minText = $("min-witnesses").value.trim();
  const result = await verifyBundle({
    // Pasted text with a BOM: as its UTF-8 bytes would read (in a file, decodeBundle drops it).
    bundleText: $("bundle-text").value.replace(/^\ufeff/, ""),
    bundleBytes: bundleFile ? await readBytes(bundleFile) : null,
    logKey,
    witnessKeys: $("witness-keys").value.split("\n").map((l) => l.trim()).filter(Boolean),
    minWitnesses: minText === "" ? null : Number(minText),
    image: imageFile ? await readBytes(imageFile) : null,
  });
  render(result);
}

document.addEventListener("DOMContentLoaded", () => {
  try { const pinned = localStorage.getItem(PIN); if (pinned) { $("log-key").value = pinned; $("pin").checked = true; } } catch (e) { /* no storage */ }
  $("verify").addEventListener("click", () => { onVerify().catch((e) => $("result").replaceChildren(el("p", `internal error: ${e}`, "verdict failed"))); });
});
