// Command goverify checks a Provenance Ledger server with Go's own
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, an
// implementation written independently of ours:
//
//	goverify -url http://127.0.0.1:PORT -vkey VKEY [-samples 20]
//
// It verifies the signed checkpoint, recomputes the root from the C2SP
// tlog-tiles hash tiles, checks entry bundles against proven leaf hashes,
// checks inclusion and consistency proofs from the JSON API, and tampers
// with data on purpose to prove that the checks can fail.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	baseURL string
	client  = &http.Client{Timeout: 30 * time.Second}
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "goverify: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func pass(format string, args ...any) { fmt.Printf("ok    "+format+"\n", args...) }

// check fails naming what if err is not nil.
func check(err error, what string, args ...any) {
	if err != nil {
		fail("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// must(f())("what %d", x) returns f's value or fails like check. (Curried
// because Go only spreads a multi-value f() into a call on its own.)
func must[T any](v T, err error) func(what string, args ...any) T {
	return func(what string, args ...any) T { check(err, what, args...); return v }
}

// get fetches baseURL+path and insists on HTTP 200.
func get(path string) ([]byte, error) {
	resp, err := client.Get(baseURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	return body, err
}

// getJSON decodes a JSON response; tlog.Hash fields decode from base64.
func getJSON(path string, v any) {
	check(json.Unmarshal(must(get(path))("GET %s", path), v), "GET %s: bad JSON", path)
}

// tilePath renders a C2SP tlog-tiles path; tlog.Tile.Path() is the go.sum
// layout (tile/H/L/...), which differs. N is split into 3-digit groups, all
// but the last prefixed "x" (1234067 -> x001/x234/067); W < 256 is partial.
func tilePath(level string, n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	if w < 256 {
		s += fmt.Sprintf(".p/%d", w)
	}
	return "/tile/" + level + "/" + s
}

// getTile fetches a tile or entry bundle. C2SP lets a log delete a partial
// tile once the full one exists (e.g. the log grew since our checkpoint), so
// a failed partial fetch falls back to the full tile; full reports that.
func getTile(level string, n int64, w int) (data []byte, full bool, err error) {
	if data, err = get(tilePath(level, n, w)); err != nil && w < 256 {
		if fullData, fullErr := get(tilePath(level, n, 256)); fullErr == nil {
			return fullData, true, nil
		}
	}
	return data, false, err
}

// httpTiles is a tlog.TileReader over HTTP. It vouches for nothing, so its
// in-memory cache (which only saves round trips) needs no SaveTiles.
type httpTiles struct {
	cache   map[tlog.Tile][]byte
	corrupt bool // negative self-check: flip a bit in level-0 tile 0
}

func (r *httpTiles) Height() int                     { return 8 }
func (r *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}
func (r *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, ok := r.cache[t]
		if !ok {
			var full bool
			var err error
			if d, full, err = getTile(strconv.Itoa(t.L), t.N, t.W); err != nil {
				return nil, err
			} else if full && len(d) == 256*tlog.HashSize {
				d = d[:t.W*tlog.HashSize]
			}
			if len(d) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("tile %s: %d bytes, want %d", tilePath(strconv.Itoa(t.L), t.N, t.W), len(d), t.W*tlog.HashSize)
			}
			r.cache[t] = d
		}
		if r.corrupt && t.L == 0 && t.N == 0 {
			d = append([]byte(nil), d...)
			d[len(d)-1] ^= 1
		}
		out[i] = d
	}
	return out, nil
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size,
// base64 root, then optional non-empty extension lines. (tlog.ParseTree
// wants the go.sum header line, so it cannot be used here.)
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] == "" {
		return "", 0, root, errors.New("need origin, size and root lines")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, fmt.Errorf("bad size line %q", lines[1])
	}
	if root, err = tlog.ParseHash(lines[2]); err != nil || root.String() != lines[2] {
		return "", 0, root, fmt.Errorf("bad root hash line %q", lines[2])
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return "", 0, root, errors.New("empty extension line")
		}
	}
	return lines[0], size, root, nil
}

// authLeaves reads leaf hashes first..first+count-1 from tiles and proves
// each against the signed root with a proof built from tiles. Reading alone
// is not enough: x/mod v0.7.0's TileHashReader starts its "authenticate full
// tiles against their parents" loop at len(stx) (number of subtrees), not at
// the number of distinct subtree tiles, so some tiles are never checked (e.g.
// tile 0/000 at size 1000). CheckRecord against the root is always sound.
func authLeaves(hr tlog.HashReader, tree tlog.Tree, first, count int64) ([]tlog.Hash, error) {
	idx := make([]int64, count)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(0, first+int64(i))
	}
	hs, err := hr.ReadHashes(idx)
	for i := int64(0); err == nil && i < count; i++ {
		var p tlog.RecordProof
		if p, err = tlog.ProveRecord(tree.N, first+i, hr); err == nil {
			err = tlog.CheckRecord(p, tree.N, tree.Hash, first+i, hs[i])
		}
	}
	return hs, err
}

func main() {
	url := flag.String("url", "", "server base URL, e.g. http://127.0.0.1:8000")
	vkey := flag.String("vkey", "", "note verifier key: name+hash+base64key")
	samples := flag.Int("samples", 20, "entry bundles and inclusion proofs to check")
	flag.Parse()
	if *url == "" || *vkey == "" || *samples < 1 {
		flag.Usage()
		os.Exit(2)
	}
	baseURL = strings.TrimRight(*url, "/")

	// a. Signed checkpoint; the origin must be the key's name.
	verifier := must(note.NewVerifier(*vkey))("bad -vkey")
	raw := must(get("/checkpoint"))("checkpoint")
	n := must(note.Open(raw, note.VerifierList(verifier)))("checkpoint note does not verify")
	pass("checkpoint signed by %s (%d unknown signatures ignored)", verifier.Name(), len(n.UnverifiedSigs))
	origin, size, root, err := parseCheckpoint(n.Text)
	check(err, "checkpoint body")
	if origin != verifier.Name() {
		fail("checkpoint origin %q != key name %q", origin, verifier.Name())
	}
	pass("checkpoint origin=%q size=%d root=%s", origin, size, root)

	// f. A changed body byte must break the signature, not just the parse:
	// flip the root line's first char (base64, so it stays printable ASCII).
	bad := append([]byte(nil), raw...)
	bad[len(origin)+1+len(strconv.FormatInt(size, 10))+1] ^= 1
	var sigErr *note.InvalidSignatureError
	if _, err := note.Open(bad, note.VerifierList(verifier)); !errors.As(err, &sigErr) {
		fail("self-check: tampered checkpoint not rejected as a bad signature (err=%v)", err)
	}
	pass("self-check: tampered checkpoint rejected: %v", sigErr)

	if size == 0 { // tlog.TreeHash(0) is all zeros; C2SP uses SHA-256("").
		if root != tlog.Hash(sha256.Sum256(nil)) {
			fail("empty tree root %s != SHA-256(\"\")", root)
		}
		pass("empty tree: root is SHA-256(\"\"), nothing else to check")
		fmt.Printf("goverify: OK size=0 root=%s\n", root)
		return
	}

	// b. Root from tiles. TileHashReader checks the tiles covering the tree
	// hash against the signed root, so an inconsistent tile fails here.
	tree := tlog.Tree{N: size, Hash: root}
	tiles := &httpTiles{cache: map[tlog.Tile][]byte{}}
	hr := tlog.TileHashReader(tree, tiles)
	if th := must(tlog.TreeHash(size, hr))("tree hash from tiles"); th != root {
		fail("tree hash from tiles %s != checkpoint root %s", th, root)
	}
	pass("root recomputed from %d hash tiles", len(tiles.cache))

	// c. Entry bundles: first, last and pseudo-random others.
	rng := rand.New(rand.NewSource(1)) // fixed seed: repeatable runs
	for _, b := range pick(rng, (size+255)/256, int64(*samples)) {
		w := size - b*256
		if w > 256 {
			w = 256
		}
		body, full, err := getTile("entries", b, int(w))
		check(err, "entry bundle %d", b)
		hashes := must(authLeaves(hr, tree, b*256, w))("leaf hashes of bundle %d", b)
		var i int64
		for ; len(body) > 0 && !(full && i == w); i++ { // full: fallback, use w
			if len(body) < 2 || int(binary.BigEndian.Uint16(body))+2 > len(body) {
				fail("entry bundle %d: truncated at entry %d", b, i)
			}
			entry := body[2 : 2+binary.BigEndian.Uint16(body)]
			body = body[2+len(entry):]
			if i >= w || tlog.RecordHash(entry) != hashes[i] {
				fail("entry bundle %d: entry %d (leaf %d) does not match its tile hash", b, i, b*256+i)
			}
		}
		if i != w {
			fail("entry bundle %d: %d entries, want %d", b, i, w)
		}
		pass("entry bundle %d: %d entries match proven leaf hashes", b, w)
	}

	// d. Inclusion proofs for leaves 0, size-1 and pseudo-random others.
	for _, i := range pick(rng, size, int64(*samples)+2) {
		var r struct {
			LeafIndex     int64            `json:"leaf_index"`
			TreeSize      int64            `json:"tree_size"`
			LeafHash      tlog.Hash        `json:"leaf_hash"`
			InclusionPath tlog.RecordProof `json:"inclusion_path"`
		}
		getJSON(fmt.Sprintf("/v1/log/proof/inclusion?index=%d&tree_size=%d", i, size), &r)
		if r.LeafIndex != i || r.TreeSize != size {
			fail("inclusion %d: response is for leaf %d of tree %d", i, r.LeafIndex, r.TreeSize)
		}
		leaf, proof := r.LeafHash, r.InclusionPath
		check(tlog.CheckRecord(proof, size, root, i, leaf), "inclusion %d", i)
		if tileLeaf := must(authLeaves(hr, tree, i, 1))("leaf hash %d", i)[0]; leaf != tileLeaf {
			fail("inclusion %d: leaf_hash %s differs from tile hash %s", i, leaf, tileLeaf)
		}
		pass("inclusion proof for leaf %d (%d hashes)", i, len(proof))
		if i == size-1 { // f. flip one bit; CheckRecord must now reject.
			if len(proof) > 0 {
				proof[len(proof)/2][0] ^= 1
			} else {
				leaf[0] ^= 1 // size 1: the proof is empty, tamper the leaf instead
			}
			if tlog.CheckRecord(proof, size, root, i, leaf) == nil {
				fail("self-check: CheckRecord accepted a tampered inclusion proof")
			}
			pass("self-check: tampered inclusion proof rejected")
		}
	}

	// e. Consistency proofs from a few old sizes to the current one. The old
	// root comes from tiles; a wrong one could not pass CheckTree anyway.
	for _, a := range pick(rng, size-1, 5) {
		a++ // old sizes 1 and size-1 plus pseudo-random ones in between
		var r struct {
			First           int64          `json:"first"`
			Second          int64          `json:"second"`
			ConsistencyPath tlog.TreeProof `json:"consistency_path"`
		}
		getJSON(fmt.Sprintf("/v1/log/proof/consistency?first=%d&second=%d", a, size), &r)
		if r.First != a || r.Second != size {
			fail("consistency %d->%d: response says %d->%d", a, size, r.First, r.Second)
		}
		oldRoot := must(tlog.TreeHash(a, hr))("consistency %d->%d: old root from tiles", a, size)
		proof := r.ConsistencyPath
		check(tlog.CheckTree(proof, size, root, a, oldRoot), "consistency %d->%d", a, size)
		pass("consistency proof %d -> %d (%d hashes)", a, size, len(proof))
	}

	// f. A corrupted level-0 tile must be caught (see authLeaves).
	tiles.corrupt = true
	if _, err := authLeaves(tlog.TileHashReader(tree, tiles), tree, 0, 1); err == nil {
		fail("self-check: a corrupted hash tile went unnoticed")
	}
	pass("self-check: corrupted hash tile rejected")

	fmt.Printf("goverify: OK size=%d root=%s\n", size, root)
}

// pick returns, sorted, 0, n-1 and pseudo-random others in [0, n): k
// values in all, or every value when n <= k.
func pick(rng *rand.Rand, n, k int64) []int64 {
	if n <= 0 {
		return nil
	}
	set := map[int64]bool{0: true, n - 1: true}
	for int64(len(set)) < k && int64(len(set)) < n {
		set[rng.Int63n(n)] = true
	}
	keys := make([]int64, 0, len(set))
	for x := range set {
		keys = append(keys, x)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
